"""Publishes committed outbox rows in write order: soon after each commit, and by a sweep."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from agentbus.storage import (
    UnitOfWorkFactory,
    is_postgres,
    mark_published,
    pending,
    relay_turn,
)
from agentbus.storage.tables import utcnow

from .background import BackgroundLoop
from .records import OutboundRecord, RecordSink

__all__ = ["OutboxRelay"]

log = logging.getLogger("agentbus.bus.relay")


class OutboxRelay:
    """Moves outbox rows to Kafka; at-least-once, consumers deduplicate by event id.

    A commit only raises a watermark (the highest committed row id) and wakes the loop;
    the loop publishes every unpublished row up to the watermark in id order, in
    batches. Because it never picks rows by id list, it never overtakes an older row
    (of the same key, say) that is still waiting, whatever falls behind. Rows are
    durable before the watermark moves: a crash loses the watermark, never the rows,
    which the sweep sends once they are older than the grace period.
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
        self.engine = uow_factory.engine
        self.skip_locked = is_postgres(uow_factory.engine)
        self.sink = sink
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.batch_size = batch_size
        self._watermark = 0
        self._last_sweep = 0.0
        self._loop = BackgroundLoop("agentbus-outbox-relay", self._step, interval_s)

    async def publish_committed(self, ids: Sequence[int]) -> None:
        """Publish rows a handler just committed: in the background when running."""
        if not ids:
            return
        self._watermark = max(self._watermark, *ids)
        if self._loop.running:
            self._loop.wake()
            return
        try:
            await self._publish_up_to_watermark()
        except Exception:
            log.warning("outbox publish deferred to the sweep", exc_info=True)

    async def sweep(self) -> int:
        """Publish every row older than the grace period; returns how many were sent."""
        sent = 0
        while True:
            created_before = utcnow() - timedelta(seconds=self.grace_s)
            count = await self._relay(up_to_id=None, created_before=created_before)
            sent += count
            if count < self.batch_size:
                return sent

    def start(self) -> None:
        """Start publishing in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop, then publish up to the watermark (the sweep of a later start would too)."""
        await self._loop.stop()
        await self._publish_up_to_watermark()

    async def _step(self) -> None:
        await self._publish_up_to_watermark()
        if time.monotonic() - self._last_sweep >= self.interval_s:
            self._last_sweep = time.monotonic()
            sent = await self.sweep()
            if sent:
                log.info("outbox sweep published leftovers", extra={"fields": {"count": sent}})

    async def _publish_up_to_watermark(self) -> None:
        while self._watermark:
            if await self._relay(up_to_id=self._watermark, created_before=None) < self.batch_size:
                return

    async def _relay(self, *, up_to_id: int | None, created_before: datetime | None) -> int:
        async with relay_turn(self.engine) as mine, self.sessions() as session:
            if not mine:
                return 0  # another replica on this SQLite file is relaying: no duplicates
            rows = await pending(
                session,
                up_to_id=up_to_id,
                created_before=created_before,
                limit=self.batch_size,
                skip_locked=self.skip_locked,
            )
            if not rows:
                return 0
            await self.sink.send([_to_record(row) for row in rows])
            await mark_published(session, [row.id for row in rows])
            await session.commit()
            return len(rows)


def _to_record(row: Any) -> OutboundRecord:
    return OutboundRecord(
        topic=row.topic,
        key=row.key,
        value=row.value,
        headers=[(name, value.encode()) for name, value in row.headers],
    )
