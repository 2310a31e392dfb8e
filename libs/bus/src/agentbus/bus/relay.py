"""Publishes committed outbox rows in write order: soon after each commit, and by a sweep."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from agentbus.storage import (
    CommittedRow,
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

# How many handed-over ids the relay remembers, so a caller naming them does not make it
# read them back (they come back within milliseconds; far fewer are ever in flight).
_HEARD = 100_000


class OutboxRelay:
    """Moves outbox rows to Kafka; at-least-once, consumers deduplicate by event id.

    While it runs, every unit of work of its factory hands it the rows it has just
    committed (in commit order), and the loop sends them from memory, then stamps them
    published: no read back. Rows committed elsewhere (another factory, a caller naming
    ids) raise a watermark instead; the loop then publishes every unpublished row up to
    it in id order, so it never overtakes an older row still waiting. Rows are durable
    before either path sees them: a crash loses the queue, never the rows, which the
    sweep sends once they are older than the grace period.
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
        self._read_back = False  # rows committed elsewhere wait up to the watermark
        self._fresh: deque[CommittedRow] = deque()
        self._heard: deque[int] = deque(maxlen=_HEARD)  # ids handed over, recent first out
        self._heard_set: set[int] = set()
        self.factory = uow_factory
        self._last_sweep = 0.0
        self._loop = BackgroundLoop("agentbus-outbox-relay", self._step, interval_s)

    async def publish_committed(self, ids: Sequence[int]) -> None:
        """Publish rows a handler just committed: in the background when running."""
        foreign = [i for i in ids if i not in self._heard_set]
        if foreign:
            self._watermark = max(self._watermark, *foreign)
            self._read_back = True
        elif not ids:
            return
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
        """Start publishing in the background; units of work hand over what they commit."""
        self.factory.committed = self._hand_over
        self._loop.start()

    async def stop(self) -> None:
        """Stop, then publish what is queued and up to the watermark."""
        self.factory.committed = None
        await self._loop.stop()
        await self._publish_fresh()
        await self._publish_up_to_watermark()

    def _hand_over(self, rows: list[CommittedRow]) -> None:
        for row in rows:
            if len(self._heard) == self._heard.maxlen:
                self._heard_set.discard(self._heard[0])
            self._heard.append(row.id)
            self._heard_set.add(row.id)
        self._fresh.extend(rows)
        self._loop.wake()

    async def _step(self) -> None:
        await self._publish_fresh()
        if self._read_back:
            self._read_back = False
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

    async def _publish_fresh(self) -> None:
        """Send the handed-over rows in order; a failure keeps them queued for next time."""
        while self._fresh:
            batch = [self._fresh[i] for i in range(min(self.batch_size, len(self._fresh)))]
            await self.sink.send([_to_record(row) for row in batch])
            for _ in batch:
                self._fresh.popleft()
            async with self.sessions() as session:
                await mark_published(session, [row.id for row in batch])
                await session.commit()

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
    if isinstance(row, CommittedRow):
        return OutboundRecord(row.topic, row.key, row.value, row.headers)
    return OutboundRecord(
        topic=row.topic,
        key=row.key,
        value=row.value,
        headers=[(name, value.encode()) for name, value in row.headers],
    )
