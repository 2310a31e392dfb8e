"""An I/O handler's prepare may settle an event that needs no call: one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import col, select

from agentbus.bus import SETTLED, Bus, IoContext, Settled
from agentbus.storage import UnitOfWork
from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from agentbus.testing.effects import Effect
from agentbus.testing.io_consumer import SleepyEffect
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.integration


@dataclass
class SettlesSkips(SleepyEffect):
    """Tasks named skip-* are done in prepare (an Effect row, no call); others are called."""

    performed: list[str] = field(default_factory=list)

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> str | Settled:
        label = await super().prepare(envelope, uow)
        if label.startswith("skip"):
            uow.session.add(Effect(tenant_id=uow.tenant_id, event_id=envelope.id, label=label))
            return SETTLED
        return label

    async def perform(self, label: str, ctx: IoContext) -> str:
        self.performed.append(label)
        return await super().perform(label, ctx)


async def test_a_settled_event_skips_the_call_and_a_redelivery_is_a_duplicate(case, started):
    topic = unique("settled")
    await create_topics(case.bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    # One key: records are handled in order, so the last one's effect means all are done.
    events = [
        new_envelope(sample(TaskSubmitted, task_id=name), source="t", tenant_id="a", run_id="k")
        for name in ("skip-1", "call-1", "skip-2", "call-2")
    ]
    last = new_envelope(
        sample(TaskSubmitted, task_id="call-last"), source="t", tenant_id="a", run_id="k"
    )
    # Every event twice (a redelivery), then the last one.
    await produce(case.bootstrap, topic, [raw_record(e) for e in [*events, *events, last]])
    handler = SettlesSkips()
    bus = Bus(case.settings(), service="test")
    bus.io_consumer(topic, handler, event_types={"agentbus.task.submitted.v1"})
    await started(bus)

    async def labels() -> list[str]:
        async with bus.uow.sessions() as session:
            return list((await session.exec(select(Effect.label).order_by(col(Effect.id)))).all())

    async def all_done() -> bool:
        return "call-last" in await labels()

    await eventually(all_done, timeout_s=60, what="the last record")
    assert await labels() == ["skip-1", "call-1", "skip-2", "call-2", "call-last"]
    assert handler.performed == ["call-1", "call-2", "call-last"]
    async with bus.uow("a") as uow:  # settled events are in the inbox like called ones
        handled = await uow.handled_among(bus.settings.consumer_group, [e.id for e in events])
    assert handled == {e.id for e in events}
