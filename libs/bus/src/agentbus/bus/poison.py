"""Records the Kafka client cannot even parse: find them, report them, move past them.

aiokafka decodes header names as UTF-8 while it unpacks a fetched batch; one bad name
makes every fetch of that partition raise, and the consumer would spin on it forever.
The loop hands such errors here: the partition at fault is found by fetching each one
alone, the record at its position is reported to the dead-letter topic (with its
coordinates and the cause; its bytes cannot be read through the client) and the
partition moves one record on. Nothing is skipped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from .failures import DeadLetterer
from .records import InboundRecord

__all__ = ["UnreadableRecordError", "UnreadableRecords"]

log = logging.getLogger("agentbus.bus.consumer")
_ISOLATION_LIMIT = 1000


class UnreadableRecordError(Exception):
    """The Kafka client could not parse the record at these coordinates."""


class UnreadableRecords:
    """Recovers a consumer from a fetch that raises while parsing records."""

    def __init__(self, dead_letters: Callable[[str], DeadLetterer]) -> None:
        self.dead_letters = dead_letters
        self._failures = 0

    def clear(self) -> None:
        """A fetch succeeded."""
        self._failures = 0

    async def recover(
        self, consumer: Any, error: BaseException, positions: dict[TopicPartition, int | None]
    ) -> dict[TopicPartition, list[InboundRecord]]:
        """Find the record at fault, report it, move past it; returns records read before it.

        Those records are whole and must be handled like any fetched ones.
        """
        self._failures += 1
        assigned = sorted(consumer.assignment())
        for tp in assigned:
            # Seeking drops what the client buffered: its half-read batch would otherwise
            # advance the position past records that were never returned.
            position = positions.get(tp)
            consumer.seek(tp, position if position is not None else await consumer.position(tp))
        culprit, readable = await self._isolate(consumer, assigned)
        if culprit is None:
            log.error("fetch failed and no partition reproduces it: %r", error)
            return {}
        offset = await consumer.position(culprit)
        cause = UnreadableRecordError(
            f"the Kafka client cannot parse this record ({type(error).__name__}: {error}); "
            "it was passed over, its bytes are still in the source topic at these coordinates"
        )
        marker = InboundRecord(culprit.topic, culprit.partition, offset, None, b"", [])
        await self.dead_letters(culprit.topic).dead_letter(marker, cause, attempts=1)
        consumer.seek(culprit, offset + 1)
        log.error(
            "unreadable record reported and passed over",
            extra={
                "fields": {"topic": culprit.topic, "partition": culprit.partition, "offset": offset}
            },
        )
        return {culprit: readable} if readable else {}

    async def _isolate(
        self, consumer: Any, assigned: list[TopicPartition]
    ) -> tuple[TopicPartition | None, list[InboundRecord]]:
        """Read each partition alone, one record at a time, until one raises."""
        paused = set(consumer.paused())
        try:
            for tp in assigned:
                consumer.pause(*[other for other in assigned if other != tp])
                consumer.resume(tp)
                start = await consumer.position(tp)
                readable: list[InboundRecord] = []
                for _ in range(_ISOLATION_LIMIT):
                    try:
                        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
                    except Exception:
                        return tp, readable
                    if not batch:
                        break
                    readable += [InboundRecord.from_consumer_record(r) for r in batch[tp]]
                # This partition reads fine: the loop fetches it again from where it was.
                consumer.seek(tp, start)
            return None, []
        finally:
            consumer.resume(*[tp for tp in assigned if tp not in paused])
            if paused:
                consumer.pause(*paused)
