"""The replay reader's merge: whatever the fetch sizes, the order is the head merge's.

The reference picks, at every step, the partition whose next record has the smallest
(timestamp, partition), over the whole partitions at once. The reader merges in rounds
as records arrive, with a sort when every buffer's timestamps never decrease and a heap
otherwise; both must give the reference order, with timestamps that go backwards too.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

import pytest
from audit.reader import Buffers, merge_round


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    timestamp: int


def reference(partitions: dict[int, list[Rec]]) -> list[Rec]:
    heads = {p: 0 for p in partitions}
    out = []
    while True:
        ready = [(records[heads[p]].timestamp, p) for p, records in partitions.items()
                 if heads[p] < len(records)]  # fmt: skip
        if not ready:
            return out
        _, p = min(ready)
        out.append(partitions[p][heads[p]])
        heads[p] += 1


def rounds(partitions: dict[int, list[Rec]], rng: random.Random, heap_only: bool) -> list[Rec]:
    """What read_window does, with fetches of random sizes instead of a broker."""
    buffers = Buffers({p: deque() for p in partitions}, {p: True for p in partitions})
    position = {p: 0 for p in partitions}
    active = {p for p, records in partitions.items() if records}
    fetching = set(active)
    out: list[Rec] = []
    for _ in range(100_000):
        if not active:
            return out
        for p in sorted(active):
            if not buffers.records[p] and p in fetching:
                size = rng.choice([1, 2, 5, 50])
                chunk = partitions[p][position[p] : position[p] + size]
                position[p] += len(chunk)
                buffers.add(p, chunk, 10**9, 0, None)  # type: ignore[arg-type]
                if position[p] >= len(partitions[p]):
                    fetching.discard(p)
        for p in [p for p in active if not buffers.records[p] and p not in fetching]:
            active.discard(p)
        if heap_only:
            buffers.ordered = dict.fromkeys(buffers.ordered, False)
        if active and all(buffers.records[p] for p in active):
            out += merge_round(buffers, active, fetching)
    raise AssertionError("the merge did not finish")


def topic(rng: random.Random, monotone: bool) -> dict[int, list[Rec]]:
    partitions = {}
    for p in range(rng.randint(1, 5)):
        stamps = sorted(rng.randint(0, 300) for _ in range(rng.randint(0, 80)))
        if not monotone:
            for _ in range(rng.randint(1, 6)):  # a few steps back in time
                if len(stamps) > 1:
                    i = rng.randrange(len(stamps) - 1)
                    stamps[i], stamps[i + 1] = stamps[i + 1], stamps[i] + 7
        partitions[p] = [Rec(p, o, ts) for o, ts in enumerate(stamps)]
    return partitions


@pytest.mark.parametrize("monotone", [True, False])
def test_rounds_give_the_head_merge_order(monotone: bool) -> None:
    rng = random.Random(6 if monotone else 7)
    for _ in range(300):
        partitions = topic(rng, monotone)
        expected = reference(partitions)
        seed = rng.random()
        assert rounds(partitions, random.Random(seed), heap_only=False) == expected
        assert rounds(partitions, random.Random(seed), heap_only=True) == expected


def test_a_batch_that_goes_back_in_time_takes_the_heap() -> None:
    buffers = Buffers({0: deque(), 1: deque()}, {0: True, 1: True})
    buffers.add(0, [Rec(0, 0, 5), Rec(0, 1, 3)], 10, 0, None)  # type: ignore[list-item]
    buffers.add(1, [Rec(1, 0, 4)], 10, 0, None)  # type: ignore[list-item]
    assert buffers.ordered == {0: False, 1: True}
    merged = merge_round(buffers, {0, 1}, set())
    assert [(r.partition, r.timestamp) for r in merged] == [(1, 4), (0, 5), (0, 3)]
