"""The cached partitioner picks the partition Kafka's default partitioner picks."""

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from agentbus.bus.partitioner import cached_key_partitioner


@given(key=st.binary(max_size=64), count=st.integers(min_value=1, max_value=64))
def test_a_key_goes_where_the_default_partitioner_sends_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert cached_key_partitioner(key, partitions, partitions) == expected
    assert cached_key_partitioner(key, partitions, partitions) == expected  # from the cache


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert cached_key_partitioner(None, list(range(6)), [4]) == 4
    assert cached_key_partitioner(None, [0, 1], []) in (0, 1)
