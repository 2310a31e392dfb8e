"""Field types of HTTP responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["UtcDatetime"]


def _utc(value: datetime) -> datetime:
    # Every stored time is UTC, but SQLite hands DateTime columns back without a zone:
    # a response must say which zone it means (the query filters require one).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A datetime that is always timezone-aware UTC in a response (naive values are UTC)."""
