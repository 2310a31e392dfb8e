"""aiosqlite with one thread hop per statement (ADR 0008).

aiosqlite runs every sqlite3 call on the connection's own thread and hands the result
back to the event loop. SQLAlchemy's adapter makes four such calls per statement (open a
cursor, execute, fetch, close), and each hand-over costs a thread wake-up, two GIL
transfers and a loop wake-up: about 0.25 ms on a busy 2-core machine, against a few
microseconds for the statement itself. Here a statement's cursor lives on the thread for
one call that executes, fetches every row and closes; the cursor SQLAlchemy holds is a
plain object with the results. Commit and rollback stay one hop each.

Nothing else changes: the same sqlite3 connection on the same thread, the same
transactions and locking, the same exceptions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

__all__ = ["OneHopConnection", "one_hop_connector"]

_Result = tuple[Any, int, int | None, list[Any]]


def _execute(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any] | None) -> _Result:
    """On the connection's thread: run one statement and collect everything it returns."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _execute_many(
    connection: sqlite3.Connection, sql: str, parameters: Iterable[Sequence[Any]]
) -> _Result:
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor:
    """The DB-API cursor SQLAlchemy's aiosqlite adapter drives; results are local."""

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneHopCursor:
        """Execute on the connection's thread, fetching all rows in the same hop."""
        result = await self._connection.run(_execute, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        """Execute once per parameter set, in one hop."""
        result = await self._connection.run(_execute_many, sql, list(parameters))
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors cost one thread hop per statement."""

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call `fn(sqlite3_connection, *args)` on the connection's thread."""
        return await self._execute(fn, self._conn, *args)  # type: ignore[no-untyped-call]


def one_hop_connector(database: str, **kwargs: Any) -> Callable[[], Awaitable[OneHopConnection]]:
    """An `async_creator` for SQLAlchemy: opens `database` like `aiosqlite.connect`."""

    async def connect() -> OneHopConnection:
        # SQLite creates the file but not its folder (every service's default is ./var/).
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        connection = OneHopConnection(partial(sqlite3.connect, database, **kwargs), 64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        await connection
        return connection

    return connect
