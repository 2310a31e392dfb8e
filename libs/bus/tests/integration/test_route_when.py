"""A route's `when` picks events by content; the declined ones are skipped with no transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import col, select

from agentbus.bus import Bus
from agentbus.storage import UnitOfWork
from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from agentbus.testing.effects import Effect, record_effect
from agentbus.testing.io_consumer import SleepyEffect
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.integration

TASK = {"agentbus.task.submitted.v1"}


def wanted(envelope: Envelope[Any]) -> bool:
    return str(envelope.data.task_id).startswith("want")


def tasks(*names: str) -> list[Envelope[Any]]:
    # One key: records are handled in order, so the last one's effect means all are done.
    return [
        new_envelope(sample(TaskSubmitted, task_id=name), source="t", tenant_id="a", run_id="k")
        for name in names
    ]


@dataclass
class Counting(SleepyEffect):
    prepared: list[str] = field(default_factory=list)

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> str:
        self.prepared.append(envelope.data.task_id)
        return await super().prepare(envelope, uow)


async def labels(bus: Bus) -> list[str]:
    async with bus.uow.sessions() as session:
        return list((await session.exec(select(Effect.label).order_by(col(Effect.id)))).all())


async def inbox(bus: Bus, events: list[Envelope[Any]]) -> set[str]:
    async with bus.uow("a") as uow:
        return await uow.handled_among(bus.settings.consumer_group, [e.id for e in events])


@pytest.mark.parametrize("kind", ["io", "short"])
async def test_declined_events_reach_no_handler_and_leave_no_inbox_row(case, started, kind):
    topic = unique(f"when-{kind}")
    await create_topics(case.bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    declined = tasks("skip-1", "skip-2", "skip-3")
    accepted = tasks("want-1", "want-2", "want-last")
    mixed = [declined[0], accepted[0], declined[1], accepted[1], declined[2], accepted[2]]
    await produce(case.bootstrap, topic, [raw_record(e) for e in mixed])
    bus = Bus(case.settings(), service="test")
    handler = Counting()
    if kind == "io":
        bus.io_consumer(topic, handler, event_types=TASK, when=wanted)
    else:
        bus.consumer(topic, event_types=TASK, when=wanted)(record_effect)
    await started(bus)

    async def all_done() -> bool:
        return len(await labels(bus)) == 3

    await eventually(all_done, timeout_s=60, what="the accepted events' effects")
    assert len(await labels(bus)) == 3
    if kind == "io":
        assert handler.prepared == ["want-1", "want-2", "want-last"], "declined: no prepare"
    assert await inbox(bus, accepted) == {e.id for e in accepted}
    assert await inbox(bus, declined) == set(), "a declined event changes nothing"
