"""The timer poller on a real SQLite file, with a fake relay: batches, hand-off, idle polls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from agentbus.bus import unit_factory
from agentbus.bus.timers import TimerPoller
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample


class FakeRelay:
    """Records the outbox ids it is handed."""

    def __init__(self) -> None:
        self.handed: list[list[int]] = []

    async def publish_committed(self, ids: Sequence[int]) -> None:
        self.handed.append(list(ids))


async def test_due_timers_fire_in_batches_and_reach_the_relay(sqlite_url: str):
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    uow = unit_factory(engine)
    relay: Any = FakeRelay()
    poller = TimerPoller(uow, relay, interval_s=60, batch_size=25)
    try:
        now = datetime.now(UTC)
        async with uow("acme") as unit:
            for i in range(70):
                envelope = new_envelope(sample(TaskSubmitted), source="t", tenant_id="acme")
                at = now - timedelta(seconds=1) if i < 60 else now + timedelta(hours=1)
                unit.schedule(envelope, at=at, timer_id=f"t-{i}")
            await unit.commit()
        assert await poller.fire_due() == 60
        assert [len(ids) for ids in relay.handed] == [25, 25, 10], "one transaction per batch"
        assert len({i for ids in relay.handed for i in ids}) == 60
        assert await poller.fire_due() == 0, "the other ten are not due for an hour"
        assert len(relay.handed) == 3, "an idle poll hands nothing over"
    finally:
        await engine.dispose()
