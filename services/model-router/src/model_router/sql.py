"""Dialect-aware statements shared by the repositories, built once and reused.

Every model call runs about eight statements (hold, rate claim, settle, cache, ledger).
Built per call, with the call's values inside, SQLAlchemy spent most of the router's CPU
constructing and keying expressions and synchronising ORM sessions after UPDATEs. The
statements below are Core statements over the tables, built once per dialect with bind
parameters, and executed with the call's values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from agentbus.storage import UnitOfWork

__all__ = ["Insert", "prepared", "rows_matched", "table_of"]

Insert = Callable[[Table], Any]
"""The dialect's INSERT constructor (it has ON CONFLICT)."""

_BUILT: dict[tuple[str, Hashable], Any] = {}


def prepared(uow: UnitOfWork, key: Hashable, build: Callable[[Insert], Any]) -> Any:
    """The statement `build(insert)` made once per dialect and `key`, then reused.

    `key` must name everything `build` varies on; values go in as bind parameters.
    """
    dialect = uow.session.get_bind().dialect.name
    statement = _BUILT.get((dialect, key))
    if statement is None:
        insert: Insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _BUILT[(dialect, key)] = build(insert)
    return statement


def table_of(model: type[Any]) -> Table:
    """The Core table of a SQLModel class (statements on it skip the ORM)."""
    table: Table = model.__table__
    return table


def rows_matched(result: Any) -> int:
    """Rows matched by an INSERT/UPDATE/DELETE."""
    return int(getattr(result, "rowcount", 0))
