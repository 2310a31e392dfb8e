"""Per-partition offsets: what is in flight, and the highest offset that is safe to commit."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from aiokafka import TopicPartition

__all__ = ["PartitionOffsets", "SettledOffsets"]


@dataclass
class PartitionOffsets:
    """Offsets of one partition handed to handlers and not yet settled.

    Records finish out of order (different keys run concurrently), so the position that
    may be committed is the lowest offset still in flight; with nothing in flight it is
    one past the highest offset seen. A commit therefore never passes an unsettled record.
    """

    _heap: list[int] = field(default_factory=list)
    _settled: set[int] = field(default_factory=set)
    _next: int | None = None

    def started(self, offset: int) -> None:
        """`offset` was handed to a handler."""
        heapq.heappush(self._heap, offset)
        if self._next is None or offset + 1 > self._next:
            self._next = offset + 1

    def settled(self, offset: int) -> None:
        """`offset` reached a final outcome."""
        self._settled.add(offset)
        heap = self._heap
        while heap and heap[0] in self._settled:
            self._settled.discard(heapq.heappop(heap))

    @property
    def in_flight(self) -> int:
        """How many offsets are handed out and not settled."""
        return len(self._heap) - len(self._settled)

    @property
    def next_position(self) -> int | None:
        """One past the highest offset handed out (where fetching continues)."""
        return self._next

    def committable(self) -> int | None:
        """The position to commit: lowest unsettled offset, else one past the last seen."""
        if self._heap:
            return self._heap[0]
        return self._next


class SettledOffsets:
    """Every assigned partition's offsets, and which positions were already committed."""

    def __init__(self) -> None:
        self.partitions: dict[TopicPartition, PartitionOffsets] = {}
        self.committed: dict[TopicPartition, int] = {}

    def of(self, tp: TopicPartition) -> PartitionOffsets:
        """The tracker of `tp`, created on first use."""
        offsets = self.partitions.get(tp)
        if offsets is None:
            offsets = self.partitions[tp] = PartitionOffsets()
        return offsets

    def to_commit(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Positions that moved since their last commit."""
        out: dict[TopicPartition, int] = {}
        for tp, offsets in self.partitions.items():
            if only is not None and tp not in only:
                continue
            position = offsets.committable()
            if position is not None and self.committed.get(tp) != position:
                out[tp] = position
        return out

    def mark_committed(self, positions: dict[TopicPartition, int]) -> None:
        """Remember positions the broker accepted."""
        self.committed.update(positions)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop partitions that moved to another consumer."""
        for tp in partitions:
            self.partitions.pop(tp, None)
            self.committed.pop(tp, None)
