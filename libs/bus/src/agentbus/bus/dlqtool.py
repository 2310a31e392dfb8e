"""Inspect, redrive and purge dead-letter topics.

Every function takes the same BusSettings as a service (bootstrap servers, security,
`metadata_timeout_s`) or a bare bootstrap string, and answers a missing topic,
partition or broker with a one-line DlqToolError within the metadata timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete
from aiokafka.errors import KafkaError

from .dlq import DLQ_HEADER_PREFIX, DeadLetterInfo, describe, redrive_headers
from .records import Header
from .redrive_log import REDRIVE_GROUP_PREFIX, commit_positions, redrive_group, redriven, remember
from .settings import BusSettings
from .toolclients import (
    DlqToolError,
    Target,
    bounded,
    new_admin,
    new_consumer,
    new_producer,
    one_line,
    partitions_of,
    started,
    tool_settings,
)

__all__ = [
    "REDRIVE_GROUP_PREFIX",
    "DeadLetter",
    "DlqToolError",
    "new_admin",
    "new_consumer",
    "new_producer",
    "purge",
    "read",
    "read_one",
    "redrive",
    "redrive_group",
]


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]
    info: DeadLetterInfo | None

    @classmethod
    def of(cls, record: Any) -> DeadLetter:
        headers: list[Header] = [
            (k, None if v is None else bytes(v)) for k, v in (record.headers or ())
        ]
        try:
            info: DeadLetterInfo | None = describe(headers)
        except (KeyError, ValueError):
            info = None
        return cls(record.partition, record.offset, record.key, record.value, headers, info)

    @property
    def truncated(self) -> bool:
        """True when the DLQ kept only the start of the value (it was too large)."""
        return any(k == f"{DLQ_HEADER_PREFIX}value.truncated" for k, _ in self.headers)


async def read(
    target: Target,
    topic: str,
    *,
    group: str | None = None,
    limit: int = 1000,
    timeout_s: float = 10.0,
) -> list[DeadLetter]:
    """Records from the start (or the group's position) up to the end as of now."""
    letters, _ = await _read(
        tool_settings(target), topic, group=group, limit=limit, timeout_s=timeout_s
    )
    return letters


async def _read(
    settings: BusSettings, topic: str, *, group: str | None, limit: int, timeout_s: float
) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
    """The letters, and per partition the position reached (next offset to read)."""
    consumer = new_consumer(settings, group=group)
    await started(settings, consumer)
    try:
        partitions = await partitions_of(settings, consumer, topic)
        consumer.assign(partitions)
        ends = await bounded(settings, "reading end offsets", consumer.end_offsets(partitions))
        starts = await bounded(
            settings, "reading start offsets", consumer.beginning_offsets(partitions)
        )
        reached: dict[TopicPartition, int] = {}
        for tp in partitions:
            committed = await consumer.committed(tp) if group else None
            reached[tp] = max(starts[tp], committed or 0)
            consumer.seek(tp, reached[tp])
        found: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < limit and time.monotonic() < deadline:
            if all(reached[tp] >= ends[tp] for tp in partitions):
                break
            batches = await consumer.getmany(timeout_ms=500, max_records=limit - len(found))
            for tp, records in batches.items():
                for r in records:
                    if r.offset < ends[tp] and len(found) < limit:
                        found.append(DeadLetter.of(r))
                        reached[tp] = r.offset + 1
        return sorted(found, key=lambda d: (d.partition, d.offset)), reached
    finally:
        await consumer.stop()


async def read_one(
    target: Target, topic: str, partition: int, offset: int, *, timeout_s: float = 10.0
) -> DeadLetter:
    """The record at `partition`/`offset`; DlqToolError when there is none."""
    settings = tool_settings(target)
    consumer = new_consumer(settings)
    await started(settings, consumer)
    try:
        [tp] = await partitions_of(settings, consumer, topic, only=partition)
        consumer.assign([tp])
        (start,) = (
            await bounded(settings, "reading offsets", consumer.beginning_offsets([tp]))
        ).values()
        (end,) = (await bounded(settings, "reading offsets", consumer.end_offsets([tp]))).values()
        if not start <= offset < end:
            held = f"offsets {start}..{end - 1}" if end > start else "no records"
            raise DlqToolError(f"{topic} partition {partition} holds {held}; no offset {offset}")
        consumer.seek(tp, offset)
        try:
            record = await asyncio.wait_for(consumer.getone(tp), timeout=timeout_s)
        except TimeoutError:
            raise DlqToolError(
                f"{topic}/{partition}/{offset} not fetched in {timeout_s:g}s"
            ) from None
        return DeadLetter.of(record)
    finally:
        await consumer.stop()


async def redrive(
    target: Target, topic: str, *, only: tuple[int, int] | None = None, limit: int = 1000
) -> list[DeadLetter]:
    """Publish dead letters back to their original topics, each to the group that failed.

    Without `only`, redrives every record the redrive group has not redriven yet and
    commits its position. A record redriven alone is remembered in that group's commit
    metadata, so a later full redrive skips it: each record is sent once. Redriving one
    record explicitly always sends it (a deliberate second attempt).
    """
    settings = tool_settings(target)
    group = redrive_group(topic)
    if only is not None:
        letters = [await read_one(settings, topic, *only)]
        reached: dict[TopicPartition, int] = {}
        done: dict[int, set[int]] = {}
    else:
        done, _ = await redriven(settings, topic, group)
        letters, reached = await _read(settings, topic, group=group, limit=limit, timeout_s=10.0)
        letters = [d for d in letters if d.offset not in done.get(d.partition, set())]
    for letter in letters:
        where = f"{topic}/{letter.partition}/{letter.offset}"
        if letter.info is None:
            raise DlqToolError(f"{where} has no dlq.* headers; it is not a dead letter")
        if letter.truncated:
            raise DlqToolError(f"{where} was stored truncated (too large); it cannot be redriven")
    await _publish(settings, topic, letters)
    if only is not None:
        await remember(settings, topic, group, only)
    elif reached:
        await commit_positions(settings, group, reached, done)
    return letters


async def _publish(settings: BusSettings, topic: str, letters: Sequence[DeadLetter]) -> None:
    if not letters:
        return
    producer = new_producer(settings)
    await started(settings, producer)
    try:
        futures = []
        for letter in letters:
            assert letter.info is not None
            headers = redrive_headers(
                letter.headers,
                group=letter.info.consumer_group,
                source=f"{topic}/{letter.partition}/{letter.offset}",
            )
            futures.append(
                await producer.send(
                    letter.info.original_topic, value=letter.value, key=letter.key, headers=headers
                )
            )
        await asyncio.gather(*futures)
    except KafkaError as exc:
        raise DlqToolError(f"redriving from {topic}: {one_line(exc)}") from None
    finally:
        await producer.stop()


async def purge(target: Target, topic: str) -> dict[int, int]:
    """Delete every record now in `topic`; returns records deleted per partition."""
    settings = tool_settings(target)
    consumer = new_consumer(settings)
    await started(settings, consumer)
    try:
        partitions = await partitions_of(settings, consumer, topic)
        ends = await bounded(settings, "reading offsets", consumer.end_offsets(partitions))
        starts = await bounded(settings, "reading offsets", consumer.beginning_offsets(partitions))
    finally:
        await consumer.stop()
    admin = new_admin(settings)
    await bounded(settings, "connecting", admin.start())
    try:
        await bounded(
            settings,
            f"deleting records of {topic}",
            admin.delete_records({tp: RecordsToDelete(ends[tp]) for tp in partitions}),
        )
    finally:
        await admin.close()
    return {tp.partition: ends[tp] - starts[tp] for tp in partitions}
