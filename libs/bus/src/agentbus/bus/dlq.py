"""Dead-letter records: the original record plus headers naming why and where it failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.envelope import headers_to_dict

from .records import InboundRecord

__all__ = [
    "DLQ_HEADER_PREFIX",
    "DeadLetterInfo",
    "dead_letter_headers",
    "dlq_topic",
    "original_headers",
]

DLQ_HEADER_PREFIX = "dlq."
_MAX_MESSAGE = 2000


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return f"{topic}.dlq"


@dataclass(frozen=True)
class DeadLetterInfo:
    """Why a record was dead-lettered, as carried in its headers."""

    error_class: str
    error_message: str
    original_topic: str
    original_partition: int
    original_offset: int
    consumer_group: str
    attempts: int
    failed_at: str

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> DeadLetterInfo:
        """Read the dlq.* headers; KeyError when the record is not a dead letter."""
        p = DLQ_HEADER_PREFIX
        return cls(
            error_class=headers[f"{p}error.class"],
            error_message=headers.get(f"{p}error.message", ""),
            original_topic=headers[f"{p}original.topic"],
            original_partition=int(headers[f"{p}original.partition"]),
            original_offset=int(headers[f"{p}original.offset"]),
            consumer_group=headers.get(f"{p}consumer.group", ""),
            attempts=int(headers.get(f"{p}attempts", "0")),
            failed_at=headers.get(f"{p}failed.at", ""),
        )


def dead_letter_headers(
    record: InboundRecord, error: BaseException, *, consumer_group: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The original headers (minus older dlq.* ones) followed by this failure's."""
    message = str(error) or repr(error)
    cause = {
        "error.class": f"{type(error).__module__}.{type(error).__qualname__}",
        "error.message": message[:_MAX_MESSAGE],
        "original.topic": record.topic,
        "original.partition": str(record.partition),
        "original.offset": str(record.offset),
        "consumer.group": consumer_group,
        "attempts": str(attempts),
        "failed.at": datetime.now(UTC).isoformat(),
    }
    kept = [(k, v) for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)]
    return kept + [(f"{DLQ_HEADER_PREFIX}{k}", v.encode()) for k, v in cause.items()]


def original_headers(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Headers to redrive with: the dead-letter ones removed."""
    return [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]


def describe(headers: list[tuple[str, bytes]]) -> DeadLetterInfo:
    """DeadLetterInfo of raw Kafka headers."""
    return DeadLetterInfo.from_headers(headers_to_dict(headers))
