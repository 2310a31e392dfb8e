"""Publishes committed outbox rows: at once after a handler, and by a background sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from agentbus.storage import UnitOfWorkFactory, is_postgres, mark_published, pending
from agentbus.storage.tables import OutboxEntry, utcnow

from .records import OutboundRecord, RecordSink

__all__ = ["OutboxRelay"]

log = logging.getLogger("agentbus.bus.relay")


class OutboxRelay:
    """Moves outbox rows to Kafka; at-least-once, consumers deduplicate by event id."""

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
        self._task: asyncio.Task[None] | None = None

    async def publish_committed(self, ids: Sequence[int]) -> None:
        """Publish rows a handler just committed; a failure leaves them to the sweep."""
        try:
            await self._relay(ids=ids, created_before=None)
        except Exception:
            log.warning("outbox publish deferred to the background relay", exc_info=True)

    async def sweep(self) -> int:
        """Publish every row older than the grace period; returns how many were sent."""
        sent = 0
        while True:
            created_before = utcnow() - timedelta(seconds=self.grace_s)
            count = await self._relay(ids=None, created_before=created_before)
            sent += count
            if count < self.batch_size:
                return sent

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

    def start(self) -> None:
        """Run the background sweep until `stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="agentbus-outbox-relay")

    async def stop(self) -> None:
        """Stop the background sweep."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.sweep()
                if sent:
                    log.info("outbox relay published", extra={"fields": {"count": sent}})
            except Exception:
                log.warning("outbox relay sweep failed; will retry", exc_info=True)
            await asyncio.sleep(self.interval_s)


def _to_record(row: OutboxEntry) -> OutboundRecord:
    return OutboundRecord(
        topic=row.topic,
        key=row.key,
        value=row.value,
        headers=[(name, value.encode()) for name, value in row.headers],
    )
