"""Publishes committed outbox rows: soon after each commit, and by a sweep for leftovers."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from agentbus.storage import UnitOfWorkFactory, is_postgres, mark_published, pending
from agentbus.storage.tables import OutboxEntry, utcnow

from .background import BackgroundLoop
from .records import OutboundRecord, RecordSink

__all__ = ["OutboxRelay"]

log = logging.getLogger("agentbus.bus.relay")


class OutboxRelay:
    """Moves outbox rows to Kafka; at-least-once, consumers deduplicate by event id.

    Once started, `publish_committed` only queues the ids and wakes the loop, so the
    consumer goes on to its next record while the relay publishes whole batches. Rows
    are durable before they are queued: a crash loses the queue, never the rows, which
    the sweep sends once they are older than the grace period.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sink: RecordSink,
        *,
        interval_s: float,
        grace_s: float,
        batch_size: int,
    ) -> None:
        self.sessions = uow_factory.sessions
        self.skip_locked = is_postgres(uow_factory.engine)
        self.sink = sink
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.batch_size = batch_size
        self._queued: list[int] = []
        self._last_sweep = 0.0
        self._loop = BackgroundLoop("agentbus-outbox-relay", self._step, interval_s)

    async def publish_committed(self, ids: Sequence[int]) -> None:
        """Publish rows a handler just committed: queued when running, else at once."""
        if self._loop.running:
            if len(self._queued) > 10 * self.batch_size:
                # Publishing is far behind (broker down?): the rows are safe in the
                # database, so let the sweep take them rather than grow this list.
                self._queued.clear()
            self._queued.extend(ids)
            self._loop.wake()
            return
        try:
            await self._relay(ids=ids, created_before=None)
        except Exception:
            log.warning("outbox publish deferred to the sweep", exc_info=True)

    async def sweep(self) -> int:
        """Publish every row older than the grace period; returns how many were sent."""
        sent = 0
        while True:
            created_before = utcnow() - timedelta(seconds=self.grace_s)
            count = await self._relay(ids=None, created_before=created_before)
            sent += count
            if count < self.batch_size:
                return sent

    def start(self) -> None:
        """Start publishing in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop, then publish what is still queued (the sweep of a later start would too)."""
        await self._loop.stop()
        if self._queued:
            await self._drain_queue()

    async def _step(self) -> None:
        await self._drain_queue()
        if time.monotonic() - self._last_sweep >= self.interval_s:
            self._last_sweep = time.monotonic()
            sent = await self.sweep()
            if sent:
                log.info("outbox sweep published leftovers", extra={"fields": {"count": sent}})

    async def _drain_queue(self) -> None:
        while self._queued:
            batch = self._queued[: self.batch_size]
            await self._relay(ids=batch, created_before=None)
            del self._queued[: len(batch)]

    async def _relay(self, *, ids: Sequence[int] | None, created_before: datetime | None) -> int:
        async with self.sessions() as session:
            rows = await pending(
                session,
                ids=ids,
                created_before=created_before,
                limit=self.batch_size,
                skip_locked=self.skip_locked,
            )
            if not rows:
                return 0
            await self.sink.send([_to_record(row) for row in rows])
            await mark_published(session, [row.id for row in rows if row.id is not None])
            await session.commit()
            return len(rows)


def _to_record(row: OutboxEntry) -> OutboundRecord:
    return OutboundRecord(
        topic=row.topic,
        key=row.key,
        value=row.value,
        headers=[(name, value.encode()) for name, value in row.headers],
    )
