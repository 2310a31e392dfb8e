"""Dead-letter records: the original record plus headers naming why and where it failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.envelope import headers_to_dict

from .records import Header, InboundRecord

__all__ = [
    "DLQ_HEADER_PREFIX",
    "REDRIVEN_FROM_HEADER",
    "REDRIVE_GROUP_HEADER",
    "DeadLetterInfo",
    "dead_letter_headers",
    "dlq_topic",
    "is_for_group",
    "original_headers",
    "redrive_headers",
]

DLQ_HEADER_PREFIX = "dlq."
# A redriven record names the consumer group that dead-lettered it: only that group handles
# it again; every other group reading the topic already handled it and skips it (ADR 0010).
REDRIVE_GROUP_HEADER = "agentbus.redrive.group"
REDRIVEN_FROM_HEADER = "agentbus.redriven.from"
_REDRIVE_HEADERS = (REDRIVE_GROUP_HEADER, REDRIVEN_FROM_HEADER)
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
) -> list[Header]:
    """The original headers, byte for byte and in order, followed by this failure's dlq.* ones.

    Readers take the last value of a name, so an earlier failure's dlq.* headers (a record
    that was already a dead letter) are kept as history and this failure's win.
    """
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
    return [*record.headers, *((f"{DLQ_HEADER_PREFIX}{k}", v.encode()) for k, v in cause.items())]


def original_headers(headers: Sequence[Header]) -> list[Header]:
    """The record's headers before it was dead-lettered: the dlq.* ones removed."""
    return [(k, v) for k, v in headers if not k.startswith(DLQ_HEADER_PREFIX)]


def redrive_headers(headers: Sequence[Header], *, group: str, source: str) -> list[Header]:
    """Headers of a redriven dead letter: the original ones, addressed to `group` alone.

    An earlier redrive's addressing is replaced, never accumulated. An empty `group` (a
    dead letter that names none) leaves the record for every group.
    """
    kept = [(k, v) for k, v in original_headers(headers) if k not in _REDRIVE_HEADERS]
    kept.append((REDRIVEN_FROM_HEADER, source.encode()))
    if group:
        kept.append((REDRIVE_GROUP_HEADER, group.encode()))
    return kept


def is_for_group(headers: Sequence[Header], group: str) -> bool:
    """False for a redriven record addressed to another consumer group; True otherwise.

    The consumer settles (commits past) a record this returns False for, without handling
    it and without an inbox entry: its group handled the original already.
    """
    addressed = [v for k, v in headers if k == REDRIVE_GROUP_HEADER]
    return not addressed or group.encode() in addressed


def describe(headers: Sequence[Header]) -> DeadLetterInfo:
    """DeadLetterInfo of raw Kafka headers."""
    return DeadLetterInfo.from_headers(headers_to_dict(headers))
