"""The parent's merge of the replay workers' streams gives the one-process order.

Each worker streams its partitions in head-merge order; the parent merges the streams in
batches of any size as they arrive, by a sort when every buffer is in key order and by
the head merge otherwise. Both must give the head merge over all partitions at once.
"""

from __future__ import annotations

import random

import pytest
from audit.replay_workers import Prepared, _Merger

from .test_reader_merge import Rec, reference, topic


def worker_streams(partitions: dict[int, list[Rec]], workers: int) -> list[list[Prepared]]:
    """What each worker sends: its partitions' records in head-merge order, as items."""
    shares: list[dict[int, list[Rec]]] = [{} for _ in range(workers)]
    for p, records in partitions.items():
        shares[p % workers][p] = records
    return [[(r.timestamp, r.partition, r) for r in reference(share)] for share in shares]


def parent(streams: list[list[Prepared]], rng: random.Random) -> list[Rec]:
    """What prepared_stream does with the streams, batches of random sizes arriving."""
    merger = _Merger([[] for _ in streams], [True for _ in streams])
    sent = [0] * len(streams)
    open_ = set(range(len(streams)))
    out: list[Rec] = []
    for _ in range(100_000):
        if not open_ and not any(merger.buffers):
            return out
        for w in sorted(open_):
            while w in open_ and not merger.buffers[w]:
                if sent[w] == len(streams[w]):
                    open_.discard(w)
                    continue
                batch = streams[w][sent[w] : sent[w] + rng.choice([0, 1, 3, 40])]
                merger.add(w, batch)
                sent[w] += len(batch)
        out += merger.merge(open_)
    raise AssertionError("the merge did not finish")


@pytest.mark.parametrize("monotone", [True, False])
def test_the_parent_merge_gives_the_order_over_all_partitions(monotone: bool) -> None:
    rng = random.Random(16 if monotone else 17)
    for _ in range(300):
        partitions = topic(rng, monotone)
        expected = reference(partitions)
        for workers in (1, 2, 3):
            assert parent(worker_streams(partitions, workers), rng) == expected


def test_a_worker_batch_that_goes_back_in_time_takes_the_head_merge() -> None:
    merger = _Merger([[], []], [True, True])
    merger.add(0, [(5, 0, "a"), (3, 0, "b")])
    merger.add(1, [(4, 1, "c")])
    assert merger.ordered == [False, True]
    # The head merge stops once worker 1, still open, has nothing buffered.
    assert merger.merge({0, 1}) == ["c"]
    assert merger.merge({0}) == ["a", "b"]
