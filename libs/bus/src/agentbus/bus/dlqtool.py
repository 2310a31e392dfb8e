"""Inspect, redrive and purge dead-letter topics."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from .dlq import DeadLetterInfo, describe, original_headers

__all__ = ["REDRIVE_GROUP_PREFIX", "DeadLetter", "purge", "read", "redrive"]

REDRIVE_GROUP_PREFIX = "agentbus-dlq-redrive"
REDRIVEN_FROM = "agentbus.redriven.from"


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    info: DeadLetterInfo | None

    @classmethod
    def of(cls, record: Any) -> DeadLetter:
        headers = [(k, bytes(v or b"")) for k, v in (record.headers or ())]
        try:
            info: DeadLetterInfo | None = describe(headers)
        except (KeyError, ValueError):
            info = None
        return cls(record.partition, record.offset, record.key, record.value, headers, info)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic` from fresh metadata; LookupError when it does not exist."""
    await consumer._client.force_metadata_update()  # a new consumer knows no topics yet
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    if not partitions:
        raise LookupError(f"topic {topic!r} does not exist")
    return partitions


async def read(
    bootstrap: str,
    topic: str,
    *,
    group: str | None = None,
    limit: int = 1000,
    timeout_s: float = 10.0,
) -> list[DeadLetter]:
    """Records from the start (or the group's position) up to the end as of now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp) if group else None
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        found: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < limit and time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= ends[tp] for tp in partitions):
                break
            batches = await consumer.getmany(timeout_ms=500, max_records=limit - len(found))
            for tp, records in batches.items():
                found.extend(DeadLetter.of(r) for r in records if r.offset < ends[tp])
        return sorted(found, key=lambda d: (d.partition, d.offset))[:limit]
    finally:
        await consumer.stop()


async def read_one(
    bootstrap: str, topic: str, partition: int, offset: int, *, timeout_s: float = 10.0
) -> DeadLetter:
    """The record at `partition`/`offset`; LookupError when there is none."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        (start,) = (await consumer.beginning_offsets([tp])).values()
        (end,) = (await consumer.end_offsets([tp])).values()
        if not start <= offset < end:
            raise LookupError(f"{topic} partition {partition} holds offsets {start}..{end - 1}")
        consumer.seek(tp, offset)
        record = await asyncio.wait_for(consumer.getone(tp), timeout=timeout_s)
        return DeadLetter.of(record)
    finally:
        await consumer.stop()


async def redrive(
    bootstrap: str, topic: str, *, only: tuple[int, int] | None = None, limit: int = 1000
) -> list[DeadLetter]:
    """Publish dead letters back to their original topics.

    Without `only`, redrives every record the redrive group has not redriven yet and then
    commits the group's position, so running it twice sends nothing twice.
    """
    group = f"{REDRIVE_GROUP_PREFIX}.{topic}"
    letters = await read(bootstrap, topic, group=None if only else group, limit=limit)
    if only is not None:
        letters = [d for d in letters if (d.partition, d.offset) == only]
        if not letters:
            raise LookupError(f"no record at partition {only[0]} offset {only[1]} of {topic}")
    unknown = [d for d in letters if d.info is None]
    if unknown:
        raise ValueError(
            f"{topic} offset {unknown[0].offset} has no dlq.* headers; not a dead letter"
        )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for letter in letters:
            assert letter.info is not None
            headers = original_headers(letter.headers)
            headers.append((REDRIVEN_FROM, f"{topic}/{letter.partition}/{letter.offset}".encode()))
            futures.append(
                await producer.send(
                    letter.info.original_topic, value=letter.value, key=letter.key, headers=headers
                )
            )
        for future in futures:
            await future
    finally:
        await producer.stop()
    if only is None and letters:
        await _commit_after(bootstrap, topic, group, letters)
    return letters


async def _commit_after(bootstrap: str, topic: str, group: str, letters: list[DeadLetter]) -> None:
    last: dict[int, int] = {}
    for letter in letters:
        last[letter.partition] = max(last.get(letter.partition, -1), letter.offset)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        positions = {TopicPartition(topic, p): o + 1 for p, o in last.items()}
        consumer.assign(list(positions))
        await consumer.commit(positions)
    finally:
        await consumer.stop()


async def purge(bootstrap: str, topic: str) -> dict[int, int]:
    """Delete every record now in `topic`; returns records deleted per partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(ends[tp]) for tp in partitions})
    finally:
        await admin.close()
    return {tp.partition: ends[tp] - starts[tp] for tp in partitions}
