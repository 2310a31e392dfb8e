"""Field types of HTTP responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from agentbus.storage.tables import as_utc

__all__ = ["UtcDatetime", "as_utc"]

# A response must say which zone a stored time is in (the query filters require one).
UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
"""A datetime that is always timezone-aware UTC in a response (naive values are UTC)."""
