"""Real-broker helpers for tests: topics, raw produce and bounded consume."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from agentbus.bus.admin import wait_for_leaders
from contracts.envelope import Envelope, encode
from contracts.topics import DLQ_SUFFIX, dlq_max_message_bytes

__all__ = [
    "consume",
    "create_topics",
    "delete_created_topics",
    "produce",
    "raw_record",
    "read_to_end",
    "unique",
]

_CREATED: set[str] = set()
"""Topics this process created through `create_topics`; deleted when the session ends."""

_MAX_REQUEST_BYTES = 8 * 1024 * 1024  # like services: records up to a topic's raised limit


def raw_record(envelope: Envelope[Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of an envelope, as any plain Kafka client would send it."""
    record = encode(envelope)
    return record.key, record.value, list(record.headers)


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def create_topics(
    bootstrap: str,
    names: Iterable[str],
    *,
    partitions: int = 1,
    max_message_bytes: int | None = None,
) -> None:
    """Create topics (ignoring those that exist) and wait until they have leaders.

    With `max_message_bytes`, topics get that `max.message.bytes` and `<topic>.dlq` ones
    what the catalogue gives a DLQ of such a topic (room for the dlq.* headers).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        wanted = list(names)
        _CREATED.update(wanted)

        def configs(name: str) -> dict[str, str]:
            if max_message_bytes is None:
                return {}
            size = (
                dlq_max_message_bytes(max_message_bytes)
                if name.endswith(DLQ_SUFFIX)
                else max_message_bytes
            )
            return {"max.message.bytes": str(size)}

        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        n, num_partitions=partitions, replication_factor=1, topic_configs=configs(n)
                    )
                    for n in wanted
                ]
            )
        await wait_for_leaders(admin, wanted, timeout_s=30)
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]]]],
) -> None:
    """Publish (key, value, headers) records with a plain aiokafka producer, like any client."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=_MAX_REQUEST_BYTES,
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=list(headers))
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consume(
    bootstrap: str, topic: str, *, count: int, timeout_s: float = 30.0
) -> list[ConsumerRecord[Any, Any]]:
    """Read `count` records from the start of `topic`; fails after `timeout_s`."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{topic}: {len(found)} of {count} records in {timeout_s}s")
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for records in batches.values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def read_to_end(
    bootstrap: str, topic: str, *, timeout_s: float = 30.0
) -> list[ConsumerRecord[Any, Any]]:
    """Every record of `topic` up to the end offsets it has now; fails after `timeout_s`.

    Stops at known offsets, not after a quiet spell: a first fetch slower than the spell
    (a loaded machine) would otherwise read nothing and pass for an empty topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    numbers = [p["partition"] for t in described if t["topic"] == topic for p in t["partitions"]]
    if not numbers:
        raise LookupError(f"{topic}: no such topic")
    partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{topic}: not read to its end in {timeout_s}s")
            batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
            for tp, records in batches.items():
                found.extend(r for r in records if r.offset < ends[tp])
        return found
    finally:
        # Without a group, stop() may re-raise the CancelledError of its own commit task.
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


async def delete_created_topics(bootstrap: str, timeout_s: float = 30.0) -> int:
    """Delete every topic `create_topics` made in this process; how many were asked for.

    Each test makes topics of its own, and a broker keeps files open for every partition:
    left behind run after run, they exhaust its file descriptors.
    """
    names = sorted(_CREATED)
    _CREATED.clear()
    if not names:
        return 0
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await admin.start()
    except Exception:  # best effort: a broker gone at the end of a session is no failure
        return 0
    try:
        for start in range(0, len(names), 100):
            with contextlib.suppress(Exception):  # best effort: a missing topic is fine
                await admin.delete_topics(
                    names[start : start + 100], timeout_ms=int(timeout_s * 1000)
                )
    finally:
        await admin.close()
    return len(names)
