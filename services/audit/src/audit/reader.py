"""Read a time window of the audit topic in a deterministic order, with its own client.

The order is (record timestamp, partition, offset): a k-way merge of the partitions,
so two reads of the same window yield the same records in the same order. The client
has no consumer group and commits nothing; it never publishes.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

__all__ = ["TopicWindow", "Window", "read_window"]


@dataclass(frozen=True, slots=True)
class Window:
    """Which records: a half-open time range [start, end) on the Kafka record timestamp."""

    topic: str
    start: datetime | None = None
    end: datetime | None = None

    @property
    def start_ms(self) -> int:
        """Start as epoch milliseconds (0 when open)."""
        return int(self.start.timestamp() * 1000) if self.start else 0

    @property
    def end_ms(self) -> int | None:
        """End as epoch milliseconds (None when open)."""
        return int(self.end.timestamp() * 1000) if self.end else None


@dataclass(frozen=True, slots=True)
class TopicWindow:
    """The offsets a window covers: [start, end) per partition."""

    start: dict[int, int]
    end: dict[int, int]

    @property
    def total(self) -> int:
        """Records in the offset ranges (an upper bound on those in the time range)."""
        return sum(max(0, self.end[p] - self.start[p]) for p in self.start)


async def locate(consumer: AIOKafkaConsumer, window: Window) -> TopicWindow:
    """Offsets for the window's times; the end is fixed now, so later records are ignored."""
    # A client with no subscription has no metadata for the topic; aiokafka's public API
    # offers only the topic names, so read the partitions from a fresh metadata snapshot.
    cluster = await consumer._client.fetch_all_metadata()
    partitions = sorted(cluster.partitions_for_topic(window.topic) or ())
    if not partitions:
        raise LookupError(f"topic {window.topic!r} does not exist or has no partitions")
    tps = [TopicPartition(window.topic, p) for p in partitions]
    first = await consumer.beginning_offsets(tps)
    last = await consumer.end_offsets(tps)
    start = {tp.partition: first[tp] for tp in tps}
    end = {tp.partition: last[tp] for tp in tps}
    if window.start is not None:
        found = await consumer.offsets_for_times({tp: window.start_ms for tp in tps})
        for tp in tps:
            hit = found.get(tp)
            start[tp.partition] = hit.offset if hit is not None else end[tp.partition]
    if window.end_ms is not None:
        found = await consumer.offsets_for_times({tp: window.end_ms for tp in tps})
        for tp in tps:
            hit = found.get(tp)
            if hit is not None:
                end[tp.partition] = min(end[tp.partition], hit.offset)
    return TopicWindow(start, end)


async def read_window(
    consumer: AIOKafkaConsumer,
    window: Window,
    offsets: TopicWindow,
    *,
    on_fetched: Callable[[int], None] | None = None,
    fetch_records: int = 20_000,
) -> AsyncIterator[list[ConsumerRecord[Any, Any]]]:
    """Records of the window in (timestamp, partition, offset) order, in lists."""
    tps = {p: TopicPartition(window.topic, p) for p in offsets.start}
    active = {p for p in tps if offsets.start[p] < offsets.end[p]}
    consumer.assign([tps[p] for p in sorted(active)])
    for p in active:
        consumer.seek(tps[p], offsets.start[p])
    buffers: dict[int, deque[ConsumerRecord[Any, Any]]] = {p: deque() for p in active}
    fetching = set(active)
    start_ms, end_ms = window.start_ms, window.end_ms
    while active:
        hungry = [tps[p] for p in sorted(active) if not buffers[p] and p in fetching]
        if hungry:
            batch = await consumer.getmany(*hungry, timeout_ms=500, max_records=fetch_records)
            got = 0
            for tp, records in batch.items():
                p, stop = tp.partition, offsets.end[tp.partition]
                for record in records:
                    if record.offset >= stop:
                        break
                    got += 1
                    if record.timestamp >= start_ms and (
                        end_ms is None or record.timestamp < end_ms
                    ):
                        buffers[p].append(record)
                if records and (records[-1].offset + 1 >= stop):
                    fetching.discard(p)
            if on_fetched is not None:
                on_fetched(got)
            for tp in hungry:
                p = tp.partition
                if (
                    p in fetching
                    and not batch.get(tp)
                    and await consumer.position(tp) >= offsets.end[p]
                ):
                    # Transaction markers can end a partition without a record at end - 1.
                    fetching.discard(p)
        for p in [p for p in active if not buffers[p] and p not in fetching]:
            active.discard(p)
        # A k-way merge on each partition's head record: emit while every partition that
        # may still have records has one buffered (the order then depends on the data only).
        heads = [(buffers[p][0].timestamp, p) for p in active if buffers[p]]
        if len(heads) < len(active):
            continue
        heapq.heapify(heads)
        merged = []
        while heads:
            _, p = heapq.heappop(heads)
            buffer = buffers[p]
            merged.append(buffer.popleft())
            if buffer:
                heapq.heappush(heads, (buffer[0].timestamp, p))
            elif p in fetching:
                break
            else:
                active.discard(p)
        # One list per merge round: a per-record async step would cost more than the merge.
        yield merged
