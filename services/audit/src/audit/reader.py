"""Read a time window of the audit topic in a deterministic order, with its own client.

The order is (record timestamp, partition, offset): a k-way merge of the partitions,
so two reads of the same window yield the same records in the same order. The client
has no consumer group and commits nothing; it never publishes.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice
from operator import attrgetter, le
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

__all__ = ["FETCH_RECORDS", "Buffers", "TopicWindow", "Window", "merge_round", "read_window"]

# Records per list the reader yields. Small lists keep a replay's pipeline moving: a
# worker's first list reaches the parent sooner, the last one leaves it less to do alone,
# and each list's objects are freed while still in the CPU caches. 20,000 cost a quarter
# of the wall time on two workers against 2,000 (bench/audit_throughput.py).
FETCH_RECORDS = 2_000


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
    # offers only the topic names, so read the partitions from a fresh metadata snapshot
    # (one of every topic: a request naming the topic could auto-create it).
    cluster = await consumer._client.fetch_all_metadata()
    partitions = sorted(cluster.partitions_for_topic(window.topic) or ())
    if not partitions:
        raise LookupError(f"topic {window.topic!r} does not exist or has no partitions")
    # Now that it exists, the client tracks it: its offset lookups below would otherwise
    # find no leader and wait out a retry backoff (100 ms) first.
    await consumer._client.add_topic(window.topic)
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
    fetch_records: int = FETCH_RECORDS,
) -> AsyncIterator[list[ConsumerRecord[Any, Any]]]:
    """Records of the window in (timestamp, partition, offset) order, in lists."""
    tps = {p: TopicPartition(window.topic, p) for p in offsets.start}
    active = {p for p in tps if offsets.start[p] < offsets.end[p]}
    consumer.assign([tps[p] for p in sorted(active)])
    for p in active:
        consumer.seek(tps[p], offsets.start[p])
    buffers = Buffers({p: deque() for p in active}, {p: True for p in active})
    fetching = set(active)
    start_ms, end_ms = window.start_ms, window.end_ms
    while active:
        hungry = [tps[p] for p in sorted(active) if not buffers.records[p] and p in fetching]
        if hungry:
            batch = await consumer.getmany(*hungry, timeout_ms=500, max_records=fetch_records)
            got = 0
            for tp, records in batch.items():
                p, stop = tp.partition, offsets.end[tp.partition]
                got += buffers.add(p, records, stop, start_ms, end_ms)
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
        for p in [p for p in active if not buffers.records[p] and p not in fetching]:
            active.discard(p)
        # Emit while every partition that may still have records has one buffered (the
        # order then depends on the data only). One list per round: a per-record async
        # step would cost more than the merge.
        if active and all(buffers.records[p] for p in active):
            yield merge_round(buffers, active, fetching)


@dataclass(slots=True)
class Buffers:
    """Fetched records per partition, and whether each buffer's timestamps never decrease."""

    records: dict[int, deque[ConsumerRecord[Any, Any]]]
    ordered: dict[int, bool]

    def add(
        self,
        p: int,
        records: list[ConsumerRecord[Any, Any]],
        stop: int,
        start_ms: int,
        end_ms: int | None,
    ) -> int:
        """Buffer the records before offset `stop` that are in the time range; how many."""
        buffer = self.records[p]
        stamps = [record.timestamp for record in records]
        whole = records and records[-1].offset < stop and min(stamps) >= start_ms
        if whole and (end_ms is None or max(stamps) < end_ms):
            # The usual case: the whole list, with no per-record step in Python.
            ordered = all(map(le, stamps, islice(stamps, 1, None)))
            if buffer:
                ordered = ordered and buffer[-1].timestamp <= stamps[0]
                self.ordered[p] = self.ordered[p] and ordered
            else:
                self.ordered[p] = ordered
            buffer.extend(records)
            return len(records)
        got = 0
        for record in records:
            if record.offset >= stop:
                break
            got += 1
            if record.timestamp >= start_ms and (end_ms is None or record.timestamp < end_ms):
                if buffer and buffer[-1].timestamp > record.timestamp:
                    self.ordered[p] = False
                elif not buffer:
                    self.ordered[p] = True
                buffer.append(record)
        return got


def merge_round(
    buffers: Buffers, active: set[int], fetching: set[int]
) -> list[ConsumerRecord[Any, Any]]:
    """One round of the k-way merge on head records (timestamp, then partition).

    It emits the smallest head until a partition that is still fetching runs dry (its
    next record might come first) or every buffer is empty; partitions that are done and
    empty leave `active`.
    """
    records = buffers.records
    if all(buffers.ordered[p] for p in active):
        return _sorted_round(buffers, active, fetching)
    heads = [(records[p][0].timestamp, p) for p in active if records[p]]
    heapq.heapify(heads)
    merged = []
    while heads:
        _, p = heapq.heappop(heads)
        buffer = records[p]
        merged.append(buffer.popleft())
        if buffer:
            heapq.heappush(heads, (buffer[0].timestamp, p))
        elif p in fetching:
            break
        else:
            active.discard(p)
    return merged


_KEY = attrgetter("timestamp", "partition")
_TIME = attrgetter("timestamp")


def _sorted_round(
    buffers: Buffers, active: set[int], fetching: set[int]
) -> list[ConsumerRecord[Any, Any]]:
    # When every buffer's timestamps never decrease, the head merge emits the buffered
    # records in (timestamp, partition) order - offset order within a partition, which a
    # stable sort keeps - up to and including the last buffered record of the first
    # still-fetching partition to run dry. A sort in C does that without a heap step per
    # record. (The heap above handles timestamps that go backwards.)
    records = buffers.records
    ends = [(records[p][-1].timestamp, p) for p in active if p in fetching and records[p]]
    horizon = min(ends) if ends else None
    # Partitions in order, each in offset order: a stable sort on the timestamp alone gives
    # the (timestamp, partition, offset) order, comparing plain integers.
    merged = sorted(chain.from_iterable(records[p] for p in sorted(active)), key=_TIME)
    if horizon is not None:
        del merged[bisect_right(merged, horizon, key=_KEY) :]
    for p in list(active):
        buffer = records[p]
        if horizon is None:
            buffer.clear()
        else:
            taken = bisect_right(list(buffer), horizon, key=_KEY)
            records[p] = deque(islice(buffer, taken, None))
        if not records[p]:
            buffers.ordered[p] = True
            if p not in fetching:
                active.discard(p)
    return merged
