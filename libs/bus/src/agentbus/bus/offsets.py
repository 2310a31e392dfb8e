"""Commits offsets of settled records only, in batches, and before partitions move away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from .background import BackgroundLoop

__all__ = ["OffsetTracker"]

log = logging.getLogger("agentbus.bus.offsets")


class OffsetTracker(ConsumerRebalanceListener):  # type: ignore[misc]
    """Remembers, per partition, the position after the last settled record, and commits it.

    Only records the processor has settled (handled, duplicate or dead-lettered) are
    recorded, and a partition's records are settled in order, so a commit never passes a
    record that is still in flight. Committing every N records or T seconds instead of
    after each one is safe because the inbox skips what a crash makes Kafka redeliver.
    """

    def __init__(self, *, commit_every: int, commit_interval_s: float) -> None:
        self.commit_every = commit_every
        self.commit_interval_s = commit_interval_s
        self._settled: dict[TopicPartition, int] = {}
        self._position: dict[TopicPartition, int] = {}
        self._consumer: Any = None
        self._since_commit = 0
        self._lock = asyncio.Lock()
        self._loop = BackgroundLoop("agentbus-offset-commits", self.flush, commit_interval_s)

    async def settled(self, consumer: Any, topic: str, partition: int, offset: int) -> None:
        """Record that `offset` is settled; commit when the batch is full."""
        self._consumer = consumer
        tp = TopicPartition(topic, partition)
        self._settled[tp] = offset + 1
        self._position[tp] = offset + 1
        self._since_commit += 1
        if self._since_commit >= self.commit_every:
            await self.flush()

    async def flush(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Commit settled positions of assigned partitions (all, or only `partitions`)."""
        async with self._lock:
            consumer = self._consumer
            # FastStream's in-memory TestKafkaBroker has no group and nothing to commit.
            if consumer is None or not self._settled or not hasattr(consumer, "assignment"):
                return
            wanted = set(partitions) if partitions is not None else set(self._settled)
            assigned = consumer.assignment()
            offsets = {tp: o for tp, o in self._settled.items() if tp in wanted and tp in assigned}
            for tp in wanted:
                self._settled.pop(tp, None)
            self._since_commit = 0
            if not offsets:
                return
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:
                # A rebalance raced us: the new owner re-reads these and the inbox skips them.
                log.warning("offset commit failed; records will be redelivered: %s", exc)

    def lag(self) -> dict[TopicPartition, int]:
        """Records behind the high watermark, per assigned partition (for the lag gauge)."""
        consumer = self._consumer
        if consumer is None or not hasattr(consumer, "assignment"):
            return {}
        out: dict[TopicPartition, int] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = self._position.get(tp)
            if position is not None:
                out[tp] = max(0, highwater - position)
        return out

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Hand over cleanly: commit what is settled before the partitions move."""
        await self.flush(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Nothing to do: positions come from committed offsets."""

    def start(self) -> None:
        """Flush every `commit_interval_s`, so an idle consumer's lag reaches zero."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop the timer and commit what is settled."""
        await self._loop.stop()
        await self.flush()
