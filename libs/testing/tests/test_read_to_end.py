"""read_to_end reads a topic up to the end offsets it has when called."""

from __future__ import annotations

import pytest

from agentbus.testing import create_topics, read_to_end, unique
from contracts.topics import DLQ_SUFFIX

pytestmark = pytest.mark.integration


async def test_every_record_of_every_partition(kafka_bootstrap: str) -> None:
    from aiokafka import AIOKafkaProducer

    topic = unique("read-to-end")
    await create_topics(kafka_bootstrap, [topic], partitions=3)
    assert await read_to_end(kafka_bootstrap, topic) == []

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        # Records in every partition, some partitions longer than others.
        sent = [
            await producer.send_and_wait(topic, str(i).encode(), partition=i % 3) for i in range(10)
        ]
        found = await read_to_end(kafka_bootstrap, topic)
        assert sorted(r.value for r in found) == sorted(str(i).encode() for i in range(10))
        assert {(r.partition, r.offset) for r in found} == {(m.partition, m.offset) for m in sent}
    finally:
        await producer.stop()


async def test_a_missing_topic_is_an_error_not_an_empty_read(kafka_bootstrap: str) -> None:
    with pytest.raises(LookupError, match="no such topic"):
        await read_to_end(kafka_bootstrap, unique("never-created") + DLQ_SUFFIX, timeout_s=5)
