"""Field types of HTTP responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["UtcDatetime", "as_utc"]


def as_utc(value: datetime) -> datetime:
    """`value` in UTC, a naive value taken as UTC.

    Every stored time is UTC, but SQLite hands DateTime columns back without a zone: a
    response must say which zone it means (the query filters require one).
    """
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
"""A datetime that is always timezone-aware UTC in a response (naive values are UTC)."""
