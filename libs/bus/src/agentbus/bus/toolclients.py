"""Kafka clients for the operator tools: the services' settings, bounded waits, one-line errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from .security import client_options
from .settings import BusSettings

__all__ = [
    "DlqToolError",
    "Target",
    "bounded",
    "new_admin",
    "new_consumer",
    "new_producer",
    "one_line",
    "partitions_of",
    "started",
    "tool_settings",
]

T = TypeVar("T")
Target = BusSettings | str
"""A service's BusSettings, or a bare bootstrap string for a PLAINTEXT cluster."""


class DlqToolError(Exception):
    """A DLQ tool could not do what was asked; the message is one line for the operator."""


def tool_settings(target: Target) -> BusSettings:
    """BusSettings of `target`."""
    return BusSettings(bootstrap_servers=target) if isinstance(target, str) else target


def _timeout_ms(settings: BusSettings) -> int:
    return max(1000, int(settings.metadata_timeout_s * 1000))


def new_consumer(target: Target, *, group: str | None = None) -> AIOKafkaConsumer:
    """A consumer with the service's security, failing requests after the metadata timeout."""
    settings = tool_settings(target)
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
    settings = tool_settings(target)
    return AIOKafkaProducer(
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_request_size,
        **client_options(settings),
    )


def new_admin(target: Target) -> AIOKafkaAdminClient:
    """An admin client with the service's security."""
    settings = tool_settings(target)
    return AIOKafkaAdminClient(
        request_timeout_ms=_timeout_ms(settings) + 1000, **client_options(settings)
    )


async def bounded(settings: BusSettings, what: str, step: Awaitable[T]) -> T:
    """`step` within the metadata timeout; a Kafka or timeout failure as one line."""
    try:
        return await asyncio.wait_for(step, timeout=settings.metadata_timeout_s)
    except TimeoutError:
        raise DlqToolError(
            f"{what}: no answer from {settings.bootstrap_servers} within "
            f"{settings.metadata_timeout_s:g}s"
        ) from None
    except KafkaError as exc:
        raise DlqToolError(f"{what}: {one_line(exc)}") from None


def one_line(exc: BaseException) -> str:
    """The first line of an exception, prefixed with its class name once."""
    text = (str(exc) or type(exc).__name__).splitlines()[0]
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"


async def started(settings: BusSettings, client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    """Start `client` within the metadata timeout; stopped again when that fails."""
    try:
        await bounded(settings, "connecting", client.start())
    except BaseException:
        await client.stop()
        raise


async def partitions_of(
    settings: BusSettings, consumer: AIOKafkaConsumer, topic: str, only: int | None = None
) -> list[TopicPartition]:
    """Partitions of `topic` from fresh metadata; DlqToolError when it or `only` is missing."""
    await bounded(
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
