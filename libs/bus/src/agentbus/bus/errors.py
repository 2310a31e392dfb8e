"""Transient versus permanent failures: only transient ones are retried."""

from __future__ import annotations

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from contracts.errors import ContractError

__all__ = ["PermanentError", "TransientError", "UnexpectedEventTypeError", "is_transient"]


class TransientError(Exception):
    """A failure that may pass on its own (network, 5xx, timeout, busy resource)."""


class PermanentError(Exception):
    """A failure that retrying cannot fix (validation, policy, a bug)."""


class UnexpectedEventTypeError(ContractError):
    """The event is valid but not one this consumer accepts on this topic."""


def is_transient(exc: BaseException) -> bool:
    """Classify `exc`; unknown errors are permanent, so a bug dead-letters rather than spins."""
    if isinstance(exc, PermanentError | ContractError | ValidationError):
        return False
    if isinstance(exc, TransientError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return True
    return _is_transient_http(exc) or _is_retriable_kafka(exc)


def _is_transient_http(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status >= 500 or status in {408, 425, 429}
    return False


def _is_retriable_kafka(exc: BaseException) -> bool:
    from aiokafka.errors import KafkaError

    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))
