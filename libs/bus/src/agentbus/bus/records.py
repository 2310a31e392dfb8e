"""The broker-independent shape of one consumed record and the port that publishes records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Header", "InboundRecord", "OutboundRecord", "RecordSink", "last_header"]

Header = tuple[str, bytes | None]
"""A Kafka header: its value may be null, which is not the same as empty."""


@dataclass(frozen=True)
class InboundRecord:
    """One Kafka record as the processor sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]

    @classmethod
    def from_consumer_record(cls, record: Any) -> InboundRecord:
        """Copy an aiokafka ConsumerRecord."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            # A null value stays null: a dead letter keeps the record byte for byte.
            headers=[(k, None if v is None else bytes(v)) for k, v in (record.headers or ())],
        )


@dataclass(frozen=True)
class OutboundRecord:
    """One record to publish."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header]


class RecordSink(Protocol):
    """Publishes records durably (acks=all) in order; returns once all are acknowledged.

    The result holds each record's (partition, offset), in the order given.
    """

    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]: ...


def last_header(headers: Sequence[Header], name: str) -> str | None:
    """The last value of header `name` as text (a null or missing one is None)."""
    values = [v for k, v in headers if k == name]
    return values[-1].decode("utf-8", "replace") if values and values[-1] is not None else None
