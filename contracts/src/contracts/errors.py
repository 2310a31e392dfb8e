"""Errors raised while turning Kafka records into contract events."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = [
    "ContractError",
    "ContractViolationError",
    "EnvelopeError",
    "MessageParseError",
    "UnknownEventTypeError",
]


class ContractError(ValueError):
    """The record is not a valid event: a permanent error, never retried."""


class MessageParseError(ContractError):
    """The record's value is not a JSON object."""


class EnvelopeError(ContractError):
    """A required CloudEvents header is missing or malformed."""


class UnknownEventTypeError(ContractError):
    """`ce_type` names no event in the catalogue."""


class ContractViolationError(ContractError):
    """The JSON data does not satisfy the event's contract."""

    @classmethod
    def from_validation(cls, event_type: str, exc: ValidationError) -> ContractViolationError:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        return cls(f"{event_type}: {details}")
