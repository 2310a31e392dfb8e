"""The outbox relay publishes in write order and never overtakes a waiting row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from agentbus.bus import OutboundRecord, unit_factory
from agentbus.bus.relay import OutboxRelay
from agentbus.storage import UnitOfWorkFactory, create_engine
from agentbus.storage.migrations import upgrade
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample


class Sink:
    def __init__(self) -> None:
        self.sent: list[OutboundRecord] = []

    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]:
        self.sent.extend(records)
        return [(0, i) for i in range(len(records))]


@pytest.fixture
async def uow(sqlite_url: str) -> Any:
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    yield unit_factory(engine)
    await engine.dispose()


async def commit_events(uow: UnitOfWorkFactory, labels: list[str]) -> list[int]:
    async with uow("t") as unit:
        for label in labels:
            data = sample(TaskSubmitted, task_id=label)
            unit.publish(
                new_envelope(data, source="unit", tenant_id="t", run_id="run-1"), topic="out"
            )
        await unit.commit()
        return unit.published_ids


async def test_a_later_commit_never_overtakes_an_earlier_unpublished_one(uow):
    sink = Sink()
    relay = OutboxRelay(uow, sink, interval_s=60, grace_s=60, batch_size=2)
    await commit_events(uow, ["a", "b", "c"])  # its wake-up was lost (say, a crash)
    later = await commit_events(uow, ["d"])
    await relay.publish_committed(later)
    labels = [record.value or b"" for record in sink.sent]
    assert len(sink.sent) == 4
    order = [next(x for x in "abcd" if b'"task_id":"%s"' % x.encode() in v) for v in labels]
    assert order == ["a", "b", "c", "d"]
    await relay.publish_committed(later)
    assert len(sink.sent) == 4, "published rows are not sent again"
