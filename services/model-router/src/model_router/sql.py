"""Statement helpers shared by the repositories (built-once statements: agentbus.storage)."""

from __future__ import annotations

from typing import Any

__all__ = ["rows_matched"]


def rows_matched(result: Any) -> int:
    """Rows matched by an INSERT/UPDATE/DELETE."""
    return int(getattr(result, "rowcount", 0))
