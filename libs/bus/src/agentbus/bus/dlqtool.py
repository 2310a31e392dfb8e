"""Inspect, redrive and purge dead-letter topics.

Every function takes the same BusSettings as a service (bootstrap servers, security,
`metadata_timeout_s`) or a bare bootstrap string, and answers a missing topic,
partition or broker with a one-line DlqToolError within the metadata timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from .dlq import DLQ_HEADER_PREFIX, DeadLetterInfo, describe, redrive_headers
from .security import client_options
from .settings import BusSettings

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

REDRIVE_GROUP_PREFIX = "agentbus-dlq-redrive"
_REDRIVEN_MARK = "redriven:"
_MAX_METADATA = 3500  # below the broker's offset.metadata.max.bytes default (4096)

T = TypeVar("T")
Target = BusSettings | str


class DlqToolError(Exception):
    """A DLQ tool could not do what was asked; the message is one line for the operator."""


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

    @property
    def truncated(self) -> bool:
        """True when the DLQ kept only the start of the value (it was too large)."""
        return any(k == f"{DLQ_HEADER_PREFIX}value.truncated" for k, _ in self.headers)


def _settings(target: Target) -> BusSettings:
    return BusSettings(bootstrap_servers=target) if isinstance(target, str) else target


def _timeout_ms(settings: BusSettings) -> int:
    return max(1000, int(settings.metadata_timeout_s * 1000))


def new_consumer(target: Target, *, group: str | None = None) -> AIOKafkaConsumer:
    """A consumer with the service's security, failing requests after the metadata timeout."""
    settings = _settings(target)
    return AIOKafkaConsumer(
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=_timeout_ms(settings) + 1000,
        metadata_max_age_ms=_timeout_ms(settings),
        **client_options(settings),
    )


def new_producer(target: Target) -> AIOKafkaProducer:
    """An acks=all idempotent producer that can send anything a topic accepts."""
    settings = _settings(target)
    return AIOKafkaProducer(
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_request_size,
        **client_options(settings),
    )


def new_admin(target: Target) -> AIOKafkaAdminClient:
    """An admin client with the service's security."""
    settings = _settings(target)
    return AIOKafkaAdminClient(
        request_timeout_ms=_timeout_ms(settings) + 1000, **client_options(settings)
    )


async def _bounded(settings: BusSettings, what: str, step: Awaitable[T]) -> T:
    """`step` within the metadata timeout; a Kafka or timeout failure as one line."""
    try:
        return await asyncio.wait_for(step, timeout=settings.metadata_timeout_s)
    except TimeoutError:
        raise DlqToolError(
            f"{what}: no answer from {settings.bootstrap_servers} within "
            f"{settings.metadata_timeout_s:g}s"
        ) from None
    except KafkaError as exc:
        raise DlqToolError(f"{what}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = (str(exc) or type(exc).__name__).splitlines()[0]
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"


async def _started(settings: BusSettings, client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    try:
        await _bounded(settings, "connecting", client.start())
    except BaseException:
        await client.stop()
        raise


async def _partitions(
    settings: BusSettings, consumer: AIOKafkaConsumer, topic: str, only: int | None = None
) -> list[TopicPartition]:
    """Partitions of `topic` from fresh metadata; DlqToolError when it or `only` is missing."""
    await _bounded(
        settings, f"reading metadata of {topic}", consumer._client.force_metadata_update()
    )
    numbers = sorted(consumer.partitions_for_topic(topic) or ())
    if not numbers:
        raise DlqToolError(f"topic {topic!r} does not exist")
    if only is not None:
        if only not in numbers:
            raise DlqToolError(
                f"topic {topic!r} has no partition {only} (partitions 0..{numbers[-1]})"
            )
        numbers = [only]
    return [TopicPartition(topic, p) for p in numbers]


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
        _settings(target), topic, group=group, limit=limit, timeout_s=timeout_s
    )
    return letters


async def _read(
    settings: BusSettings, topic: str, *, group: str | None, limit: int, timeout_s: float
) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
    """The letters, and per partition the position reached (next offset to read)."""
    consumer = new_consumer(settings, group=group)
    await _started(settings, consumer)
    try:
        partitions = await _partitions(settings, consumer, topic)
        consumer.assign(partitions)
        ends = await _bounded(settings, "reading end offsets", consumer.end_offsets(partitions))
        starts = await _bounded(
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
    settings = _settings(target)
    consumer = new_consumer(settings)
    await _started(settings, consumer)
    try:
        [tp] = await _partitions(settings, consumer, topic, only=partition)
        consumer.assign([tp])
        (start,) = (
            await _bounded(settings, "reading offsets", consumer.beginning_offsets([tp]))
        ).values()
        (end,) = (await _bounded(settings, "reading offsets", consumer.end_offsets([tp]))).values()
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


def redrive_group(topic: str) -> str:
    """The consumer group whose committed offsets remember what was redriven from `topic`."""
    return f"{REDRIVE_GROUP_PREFIX}.{topic}"


async def redrive(
    target: Target, topic: str, *, only: tuple[int, int] | None = None, limit: int = 1000
) -> list[DeadLetter]:
    """Publish dead letters back to their original topics, each to the group that failed.

    Without `only`, redrives every record the redrive group has not redriven yet and
    commits its position. A record redriven alone is remembered in that group's commit
    metadata, so a later full redrive skips it: each record is sent once. Redriving one
    record explicitly always sends it (a deliberate second attempt).
    """
    settings = _settings(target)
    group = redrive_group(topic)
    if only is not None:
        letters = [await read_one(settings, topic, *only)]
        reached: dict[TopicPartition, int] = {}
        done: dict[int, set[int]] = {}
    else:
        done, _ = await _redriven(settings, topic, group)
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
        await _remember(settings, topic, group, only)
    elif reached:
        await _commit(settings, group, reached, done)
    return letters


async def _publish(settings: BusSettings, topic: str, letters: Sequence[DeadLetter]) -> None:
    if not letters:
        return
    producer = new_producer(settings)
    await _started(settings, producer)
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
        raise DlqToolError(f"redriving from {topic}: {_one_line(exc)}") from None
    finally:
        await producer.stop()


async def _redriven(
    settings: BusSettings, topic: str, group: str
) -> tuple[dict[int, set[int]], dict[int, int]]:
    """Per partition: offsets redriven one by one beyond the position, and the position."""
    admin = new_admin(settings)
    await _bounded(settings, "connecting", admin.start())
    try:
        committed = await _bounded(
            settings, "reading redrive positions", admin.list_consumer_group_offsets(group)
        )
    finally:
        await admin.close()
    done: dict[int, set[int]] = {}
    positions: dict[int, int] = {}
    for tp, meta in committed.items():
        if tp.topic != topic or meta.offset < 0:
            continue
        positions[tp.partition] = meta.offset
        done[tp.partition] = _parse_mark(meta.metadata)
    return done, positions


async def _remember(settings: BusSettings, topic: str, group: str, only: tuple[int, int]) -> None:
    partition, offset = only
    done, positions = await _redriven(settings, topic, group)
    position = positions.get(partition)
    if position is not None and offset < position:
        return  # a full redrive already passed it: nothing to remember
    consumer = new_consumer(settings)
    await _started(settings, consumer)
    try:
        tp = TopicPartition(topic, partition)
        if position is None:
            starts = await _bounded(settings, "reading offsets", consumer.beginning_offsets([tp]))
            position = starts[tp]
    finally:
        await consumer.stop()
    offsets = done.get(partition, set()) | {offset}
    await _commit(
        settings, group, {TopicPartition(topic, partition): position}, {partition: offsets}
    )


async def _commit(
    settings: BusSettings,
    group: str,
    positions: dict[TopicPartition, int],
    done: dict[int, set[int]],
) -> None:
    offsets = {}
    for tp, position in positions.items():
        pending = sorted(o for o in done.get(tp.partition, set()) if o >= position)
        mark = _REDRIVEN_MARK + ",".join(map(str, pending)) if pending else ""
        if len(mark) > _MAX_METADATA:
            raise DlqToolError(
                f"too many records of {tp.topic} partition {tp.partition} redriven one by one; "
                "redrive the whole topic first"
            )
        offsets[tp] = OffsetAndMetadata(position, mark)
    consumer = new_consumer(settings, group=group)
    await _started(settings, consumer)
    try:
        consumer.assign(list(offsets))
        await _bounded(settings, "committing the redrive position", consumer.commit(offsets))
    finally:
        await consumer.stop()


def _parse_mark(metadata: str | None) -> set[int]:
    if not metadata or not metadata.startswith(_REDRIVEN_MARK):
        return set()
    body = metadata.removeprefix(_REDRIVEN_MARK)
    return {int(o) for o in body.split(",") if o.strip().isdigit()}


async def purge(target: Target, topic: str) -> dict[int, int]:
    """Delete every record now in `topic`; returns records deleted per partition."""
    settings = _settings(target)
    consumer = new_consumer(settings)
    await _started(settings, consumer)
    try:
        partitions = await _partitions(settings, consumer, topic)
        ends = await _bounded(settings, "reading offsets", consumer.end_offsets(partitions))
        starts = await _bounded(settings, "reading offsets", consumer.beginning_offsets(partitions))
    finally:
        await consumer.stop()
    admin = new_admin(settings)
    await _bounded(settings, "connecting", admin.start())
    try:
        await _bounded(
            settings,
            f"deleting records of {topic}",
            admin.delete_records({tp: RecordsToDelete(ends[tp]) for tp in partitions}),
        )
    finally:
        await admin.close()
    return {tp.partition: ends[tp] - starts[tp] for tp in partitions}
