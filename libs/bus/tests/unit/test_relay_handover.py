"""The relay sends what units commit from memory, in commit order, and stamps it published."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from agentbus.bus import OutboundRecord, unit_factory
from agentbus.bus.relay import OutboxRelay
from agentbus.storage import OutboxEntry, create_engine
from agentbus.storage.migrations import upgrade
from agentbus.testing import eventually
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample


class FlakySink:
    """Refuses its first send (a broker hiccup), then stores everything."""

    def __init__(self) -> None:
        self.sent: list[OutboundRecord] = []
        self.refused = 0

    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]:
        if not self.refused:
            self.refused += 1
            raise ConnectionError("broker unavailable")
        self.sent.extend(records)
        return [(0, i) for i in range(len(records))]


def task(n: int):
    data = sample(TaskSubmitted).model_copy(update={"task_id": f"t-{n}"})
    return new_envelope(data, source="test", tenant_id="acme", event_id=f"e-{n}")


async def test_committed_rows_are_sent_in_order_without_reading_them_back(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'relay.db'}")
    await upgrade(engine, [])
    uow = unit_factory(engine)
    sink = FlakySink()
    relay = OutboxRelay(uow, sink, interval_s=0.05, grace_s=3600, batch_size=3)
    relay.start()
    try:
        for first in range(0, 10, 2):
            async with uow("acme") as unit:
                unit.publish(task(first), topic="out")
                unit.publish(task(first + 1), topic="out")
                await unit.commit()
            await relay.publish_committed(unit.published_ids)  # known ids: no read back

        async def all_sent() -> bool:
            return len(sink.sent) == 10

        await eventually(all_sent, what="ten records sent after one refused send")
        assert sink.refused == 1
        keys = [r.key for r in sink.sent]
        assert keys == [f"t-{n}".encode() for n in range(10)], "commit order, nothing twice"
        assert all(dict(r.headers)["ce_id"] for r in sink.sent)

        async def all_stamped() -> bool:
            async with uow.sessions() as session:
                rows = (await session.exec(select(OutboxEntry))).all()
                return len(rows) == 10 and all(r.published_at for r in rows)

        await eventually(all_stamped, what="every row stamped published")
        # A row committed through another factory is read back up to the watermark.
        other = unit_factory(engine)
        async with other("acme") as unit:
            unit.publish(task(10), topic="out")
            await unit.commit()
        await relay.publish_committed(unit.published_ids)

        async def all_stamped_11() -> bool:
            async with uow.sessions() as session:
                pending = select(OutboxEntry).where(col(OutboxEntry.published_at).is_(None))
                return (await session.exec(pending)).all() == []

        async def eleventh() -> bool:
            return len(sink.sent) == 11

        await eventually(eleventh, what="the foreign row read back and sent")
        await eventually(all_stamped_11, what="the foreign row stamped published")
        assert [r.key for r in sink.sent].count(b"t-10") == 1
    finally:
        await relay.stop()
        await engine.dispose()
