"""Kafka's default key partitioner, remembering the hashes of recent keys.

aiokafka computes the murmur2 hash of every record's key in pure Python (tens of
microseconds for a run id), and a run's key comes back for each of its records: a
planner run publishes about sixteen. The partition chosen is the Java client's (and
aiokafka's) exactly, so other producers of the same keys still agree.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import murmur2

__all__ = ["cached_key_partitioner"]


@lru_cache(maxsize=65_536)
def _positive_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def cached_key_partitioner(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """The partition of `key` (murmur2, as Kafka's default); a random one without a key."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_positive_hash(key) % len(all_partitions)]
