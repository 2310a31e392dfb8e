"""Through a running Bus: dead letters keep every original byte, fit at the size limit,
and a redrive reaches only the consumer group that failed the record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete

from agentbus.bus import Bus, PermanentError, dlqtool
from agentbus.bus.dlq import REDRIVE_GROUP_HEADER
from agentbus.storage import UnitOfWork
from agentbus.storage.tables import InboxEntry
from agentbus.testing import consume, create_topics, eventually, produce, raw_record, unique
from agentbus.testing.effects import effects_by_event, record_effect
from contracts.envelope import Envelope, headers_to_dict

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
TASKS = {"agentbus.task.submitted.v1"}


async def test_a_dead_letter_is_the_original_record_plus_dlq_headers(case, started, make_task):
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types=TASKS)(record_effect)
    key, _, headers = raw_record(make_task())
    original = [
        *headers,
        ("x-binary", b"\xff\xfe\x00\x81"),
        ("x-repeated", b"one"),
        ("x-repeated", b"two"),
        ("x-empty", b""),
        ("x-null", None),  # null is not empty: it stays null
    ]
    await produce(case.bootstrap, case.topic, [(key, b'{"task_id": 1}', original)])
    await started(bus)

    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    stored = list(letter.headers)
    assert stored[: len(original)] == original, "every original header, in order, unchanged"
    added = [name for name, _ in stored[len(original) :]]
    assert added
    assert all(name.startswith("dlq.") for name in added), f"only dlq.* headers: {added}"
    assert (letter.key, letter.value) == (key, b'{"task_id": 1}')


async def test_a_record_at_its_topics_4_mib_limit_is_dead_lettered(
    kafka_bootstrap, case, started, make_task
):
    topic = unique("big")
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], max_message_bytes=4 * MiB)
    bus = Bus(case.settings(), service="test")
    bus.consumer(topic, event_types=TASKS)(record_effect)
    key, _, headers = raw_record(make_task())
    poison = bytes(range(256)) * (2 * MiB // 256)  # 2 MiB, not JSON
    after = make_task()
    await produce(kafka_bootstrap, topic, [(key, poison, headers), raw_record(after)])
    await started(bus)

    [letter] = await consume(kafka_bootstrap, f"{topic}.dlq", count=1, timeout_s=60)
    assert letter.value == poison, "stored whole, not truncated"
    h = headers_to_dict(letter.headers)
    assert h["dlq.error.class"] == "contracts.errors.MessageParseError"
    assert "dlq.value.truncated" not in h

    async def next_applied() -> bool:
        async with bus.uow.sessions() as session:
            return after.id in await effects_by_event(session)

    await eventually(next_applied, what="the record after the 2 MiB poison one")


class FailsUntilFixed:
    """Group A's handler: rejects everything until its cause is fixed."""

    def __init__(self) -> None:
        self.fixed = False

    async def __call__(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        if not self.fixed:
            raise PermanentError("downstream rejects it (misconfigured)")
        await record_effect(envelope, uow)


async def test_a_redrive_reaches_only_the_group_that_failed(case, started, make_task, tmp_path):
    failing = FailsUntilFixed()
    a = Bus(case.settings(), service="a")
    a.consumer(case.topic, event_types=TASKS)(failing)
    b = Bus(
        case.settings(
            consumer_group=f"{case.group}-b",
            client_id=f"{case.group}-b",
            database_url=f"sqlite:///{tmp_path / 'b.db'}",  # each service its own database
        ),
        service="b",
    )
    b.consumer(case.topic, event_types=TASKS)(record_effect)
    task = make_task()
    await produce(case.bootstrap, case.topic, [raw_record(task)])
    await started(a)
    await started(b)
    await consume(case.bootstrap, case.dlq, count=1)

    async def applied(bus: Bus) -> dict[str, int]:
        async with bus.uow.sessions() as session:
            return await effects_by_event(session)

    async def b_applied_once() -> bool:
        return await applied(b) == {task.id: 1}

    await eventually(b_applied_once, what="group b handling the original")
    # Group b's inbox row is gone (pruned long ago): only the redrive header protects it.
    async with b.uow.sessions() as session:
        await session.exec(delete(InboxEntry))
        await session.commit()

    failing.fixed = True
    [redriven] = await dlqtool.redrive(case.bootstrap, case.dlq)
    assert redriven.info is not None
    assert redriven.info.consumer_group == case.group
    marker = make_task()
    await produce(case.bootstrap, case.topic, [raw_record(marker)])

    async def both_saw_the_marker() -> bool:
        return marker.id in await applied(a) and marker.id in await applied(b)

    await eventually(both_saw_the_marker, what="both groups past the redriven record")
    assert (await applied(a))[task.id] == 1, "the failed group handled the redrive"
    assert (await applied(b))[task.id] == 1, "the other group skipped it"
    [_, again, _] = await consume(case.bootstrap, case.topic, count=3)
    assert dict(again.headers)[REDRIVE_GROUP_HEADER] == case.group.encode()
