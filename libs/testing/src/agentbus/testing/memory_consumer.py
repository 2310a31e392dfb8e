"""An in-memory stand-in for aiokafka's consumer at the bus's port, for fast unit tests.

It holds partitions as lists of records, hands them out from each partition's position,
honours pause/resume/seek and records commits, so the bus's consume loop can be tested
without a broker. Integration tests use the real broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

__all__ = ["MemoryConsumer", "consumer_record"]


def consumer_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> ConsumerRecord[Any, Any]:
    """An aiokafka ConsumerRecord as a fetch would return it."""
    return ConsumerRecord(topic, partition, offset, 0, 0, key, value, None, -1, -1, tuple(headers))


class MemoryConsumer:
    """Partitions in memory; a listener hears assignment at start and revocation at stop."""

    def __init__(self, topic: str, partitions: int = 1, listener: Any = None) -> None:
        self.topic = topic
        self.logs: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {
            TopicPartition(topic, p): [] for p in range(partitions)
        }
        self.positions = dict.fromkeys(self.logs, 0)
        self.commits: list[dict[TopicPartition, int]] = []
        self.listener = listener
        self._paused: set[TopicPartition] = set()
        self._assigned: set[TopicPartition] = set()
        self._arrived = asyncio.Event()

    def append(
        self,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes]] = (),
    ) -> int:
        """Add a record at the end of `partition`; returns its offset."""
        tp = TopicPartition(self.topic, partition)
        offset = len(self.logs[tp])
        self.logs[tp].append(
            consumer_record(self.topic, partition, offset, key, value, list(headers))
        )
        self._arrived.set()
        return offset

    def committed(self, partition: int) -> int | None:
        """The last committed position of `partition`."""
        tp = TopicPartition(self.topic, partition)
        found = [c[tp] for c in self.commits if tp in c]
        return found[-1] if found else None

    async def start(self) -> None:
        self._assigned = set(self.logs)
        if self.listener is not None:
            await self.listener.on_partitions_assigned(list(self._assigned))

    async def stop(self) -> None:
        self._assigned = set()

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused -= set(partitions)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.logs[tp])

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        """Up to `max_records` records from unpaused partitions, waiting up to `timeout_ms`."""
        batch = self._take(partitions, max_records)
        if not batch and timeout_ms:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_ms / 1000)
            except TimeoutError:
                return {}
            batch = self._take(partitions, max_records)
        return batch

    def _take(
        self, partitions: Sequence[TopicPartition], max_records: int | None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        budget = max_records if max_records is not None else 1_000_000
        out: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
        for tp in partitions or sorted(self._assigned):
            if tp in self._paused or budget <= 0:
                continue
            start = self.positions[tp]
            records = self.logs[tp][start : start + budget]
            if records:
                out[tp] = records
                self.positions[tp] = start + len(records)
                budget -= len(records)
        return out
