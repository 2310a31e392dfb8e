"""SQLite statements on the event loop, never blocking it on a lock (ADR 0014).

aiosqlite runs every sqlite3 call on the connection's own thread and hands the result
back to the event loop. Each hand-over waits for the thread to wake and for the GIL, then
for the loop to wake: on a busy 2-core machine 0.1 to 3 ms, against 0.1 ms for a statement,
and a handler's transaction makes several. Here statements, commit and rollback run on
the loop's thread instead; connecting, closing and SQLAlchemy's isolation-level changes
still go through aiosqlite's thread.

A statement that waits for a lock must not block the loop: the transaction holding the
lock may be another coroutine of this process, which could then never commit. So SQLite's
busy timeout is 0, and a statement refused with SQLITE_BUSY is tried again after an
asynchronous sleep, until `lock_timeout_s` has passed (then the error is raised, as the
busy timeout would have). Retrying is safe: a refused statement has done nothing, and a
refused COMMIT leaves the transaction open to be committed again.

A statement on the loop holds it for as long as it runs. Work whose statements are not
bounded by design (an HTTP request's query with the caller's filters over millions of
rows) runs inside `statements_off_loop()`: its statements go to the connection's thread,
and the loop serves everything else meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

__all__ = ["LoopConnection", "configure", "loop_connector", "statements_off_loop"]

T = TypeVar("T")
_Result = tuple[Any, int, int | None, list[Any]]

# A lock held by another connection; not SQLITE_BUSY_SNAPSHOT (517), which waiting cannot
# cure (the transaction read a snapshot another one has since written over).
_WAITABLE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY}
_FIRST_PAUSE_S = 0.0005
_LONGEST_PAUSE_S = 0.02
_OFF_LOOP: ContextVar[bool] = ContextVar("agentbus_sqlite_off_loop", default=False)


@contextmanager
def statements_off_loop() -> Iterator[None]:
    """SQLite statements of this context (and tasks it starts) run on connection threads."""
    token = _OFF_LOOP.set(True)
    try:
        yield
    finally:
        _OFF_LOOP.reset(token)


def configure(connection: sqlite3.Connection, *, busy_timeout_ms: int) -> None:
    """The pragmas every connection gets.

    WAL lets the outbox relay read while a handler writes. FULL syncs the WAL at every
    commit: NORMAL would keep the database consistent but could lose the last commits on
    power loss, i.e. inbox entries for offsets Kafka already counts as consumed.
    """
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _execute(connection: sqlite3.Connection, sql: str, parameters: Sequence[Any] | None) -> _Result:
    """Run one statement and collect everything it returns."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _execute_many(
    connection: sqlite3.Connection, sql: str, parameters: Sequence[Sequence[Any]]
) -> _Result:
    cursor = connection.cursor()
    try:
        cursor.executemany(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


async def _when_unlocked(call: Callable[[], Awaitable[T]], lock_timeout_s: float) -> T:
    """`await call()`, tried again after a pause (the loop runs meanwhile) while locked."""
    pause = _FIRST_PAUSE_S
    deadline: float | None = None
    while True:
        try:
            return await call()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _WAITABLE:
                raise
            now = asyncio.get_running_loop().time()
            if deadline is None:
                deadline = now + lock_timeout_s
            elif now >= deadline:
                raise
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _LONGEST_PAUSE_S)


class LoopCursor:
    """The DB-API cursor SQLAlchemy's aiosqlite adapter drives; results are local."""

    def __init__(self, connection: LoopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> LoopCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> LoopCursor:
        """Execute and fetch every row, on the loop."""
        result = await self._connection.run(_execute, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> LoopCursor:
        """Execute once per parameter set."""
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


class LoopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements, commits and rollbacks run on the loop."""

    lock_timeout_s = 30.0

    def cursor(self) -> LoopCursor:  # type: ignore[override]
        return LoopCursor(self)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(sqlite3_connection, *args)`, waiting (asynchronously) out locks."""
        return await self._call(partial(fn, self._conn, *args))

    async def commit(self) -> None:
        await self._call(self._conn.commit)

    async def rollback(self) -> None:
        await self._call(self._conn.rollback)

    async def _call(self, call: Callable[[], T]) -> T:
        if _OFF_LOOP.get():

            async def attempt() -> T:
                result: T = await self._execute(call)  # type: ignore[no-untyped-call]
                return result

        else:

            async def attempt() -> T:
                return call()

        return await _when_unlocked(attempt, self.lock_timeout_s)


def loop_connector(
    database: str, *, lock_timeout_s: float = 30.0
) -> Callable[[], Awaitable[LoopConnection]]:
    """An `async_creator` for SQLAlchemy: opens `database` for use on the event loop."""

    async def connect() -> LoopConnection:
        # SQLite creates the file but not its folder (every service's default is ./var/).
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Opened on aiosqlite's thread, used on the loop's: never by both at once.
        opener = partial(sqlite3.connect, database, timeout=0, check_same_thread=False)
        connection = LoopConnection(opener, 64)
        connection.lock_timeout_s = lock_timeout_s
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        await connection
        await connection.run(partial(configure, busy_timeout_ms=0))
        return connection

    return connect
