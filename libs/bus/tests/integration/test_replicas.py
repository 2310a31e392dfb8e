"""Replicas share a consumer group; one leaves mid-stream and the other finishes, once each."""

from __future__ import annotations

import pytest

from agentbus.bus import Bus
from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from agentbus.testing.effects import effects_by_event, record_effect
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.integration

MESSAGES = 600


async def test_a_replica_leaving_hands_its_partitions_over(db_case, started):
    topic = unique("replicas")
    await create_topics(db_case.bootstrap, [topic, f"{topic}.dlq"], partitions=4)
    settings = db_case.settings(commit_every=50)
    first, second = Bus(settings, service="a"), Bus(settings, service="b")
    for bus in (first, second):
        bus.consumer(topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    await started(first)
    await started(second)
    await first.wait_until_assigned()
    await second.wait_until_assigned()
    envelopes = [
        new_envelope(sample(TaskSubmitted, task_id=f"t-{i}"), source="tests", tenant_id="acme")
        for i in range(MESSAGES)
    ]
    await produce(db_case.bootstrap, topic, [raw_record(e) for e in envelopes])

    async def some_applied() -> bool:
        async with first.uow.sessions() as session:
            return len(await effects_by_event(session)) >= MESSAGES // 3

    await eventually(some_applied, what="a third of the records")
    await first.stop()  # graceful: commits what it settled, leaves the group

    async def all_applied() -> bool:
        async with second.uow.sessions() as session:
            return len(await effects_by_event(session)) == MESSAGES

    await eventually(all_applied, timeout_s=60, what="the survivor finishing the stream")
    async with second.uow.sessions() as session:
        counts = await effects_by_event(session)
    assert set(counts) == {e.id for e in envelopes}
    assert set(counts.values()) == {1}
