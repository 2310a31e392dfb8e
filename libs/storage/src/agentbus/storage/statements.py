"""Statements built once per dialect, with bind parameters, and reused on every call.

A statement built per call, with the call's values inside, costs SQLAlchemy more than the
database takes to run it: constructing the expression, computing its cache key, and for
an UPDATE on an ORM entity, synchronising the session. Hot paths build Core statements
over the tables once (per dialect, for ON CONFLICT) and execute them with the values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite

from .uow import UnitOfWork

__all__ = ["Insert", "prepared", "table_of"]

Insert = Callable[[Table], Any]
"""The dialect's INSERT constructor (it has ON CONFLICT)."""

_BUILT: dict[tuple[str, Hashable], Any] = {}


def prepared(uow: UnitOfWork, build: Callable[[Insert], Any], key: Hashable | None = None) -> Any:
    """The statement `build(insert)` made once per dialect (and `key`), then reused.

    Without `key` the builder function itself is the key; a builder made per call (a
    closure over options) needs a `key` naming everything it varies on, unique in the
    process. Values go in as bind parameters.
    """
    key = build if key is None else key
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
