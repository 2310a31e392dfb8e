"""Dialect-aware statements shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from agentbus.storage import UnitOfWork

__all__ = ["insert_for", "rows_matched"]


def insert_for(uow: UnitOfWork, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """A Core INSERT (not ORM-enabled) for the session's dialect, with ON CONFLICT."""
    table = model.__table__
    if uow.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def rows_matched(result: Any) -> int:
    """Rows matched by an INSERT/UPDATE/DELETE."""
    return int(getattr(result, "rowcount", 0))
