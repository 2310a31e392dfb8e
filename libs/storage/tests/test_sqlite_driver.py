"""The SQLite driver: DB-API results as aiosqlite gives them, on the loop, locks awaited."""

import asyncio
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agentbus.storage import create_engine
from agentbus.storage.sqlite_driver import LoopConnection, loop_connector


async def test_statements_return_rows_counts_and_ids_and_raise_database_errors(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            assert inserted.lastrowid == 1
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
            returned = await conn.execute(text("INSERT INTO t (v) VALUES ('d') RETURNING id, v"))
            assert returned.all() == [(4, "d")]
            updated = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
            assert updated.rowcount == 3
            rows = await conn.execute(text("SELECT id, v FROM t ORDER BY id"))
            assert rows.keys() == ["id", "v"]
            assert rows.all() == [(1, "a"), (2, "b!"), (3, "c!"), (4, "d!")]
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        async with engine.connect() as conn:  # the failed transaction left nothing behind
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 4
    finally:
        await engine.dispose()


async def test_statements_run_on_the_event_loops_thread(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, LoopConnection)
            raw.driver_connection._conn.create_function("thread_id", 0, threading.get_ident)
            found = (await conn.execute(text("SELECT thread_id()"))).scalar_one()
            assert found == threading.get_ident()
    finally:
        await engine.dispose()


def _engine(path: Path, lock_timeout_s: float) -> AsyncEngine:
    connect = loop_connector(str(path), lock_timeout_s=lock_timeout_s)
    return create_async_engine(f"sqlite+aiosqlite:///{path}", async_creator=connect)


async def test_a_writer_waiting_for_a_lock_held_in_this_process_lets_the_holder_commit(
    tmp_path: Path,
) -> None:
    # With a busy timeout on the loop's thread, the waiting INSERT would block the loop,
    # so the holder could never commit: a deadlock until the timeout.
    engine = _engine(tmp_path / "x.db", lock_timeout_s=10)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
        holder_committed = asyncio.Event()

        async def waiting_writer() -> bool:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('second')"))
                return holder_committed.is_set()

        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('first')"))  # holds the lock
            waiter = asyncio.create_task(waiting_writer())
            await asyncio.sleep(0.3)
            assert not waiter.done()
            ticks_while_waiting = ticks
            holder_committed.set()
        assert await asyncio.wait_for(waiter, 5) is True  # it wrote after the commit
        assert ticks_while_waiting >= 10  # the loop ran while the writer waited
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT v FROM t ORDER BY rowid"))
            assert rows.scalars().all() == ["first", "second"]
    finally:
        ticker.cancel()
        await engine.dispose()


async def test_a_lock_held_past_the_timeout_fails_the_waiting_statement(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "x.db", lock_timeout_s=0.2)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('first')"))
            began = time.monotonic()
            with pytest.raises(OperationalError, match="database is locked"):
                async with engine.begin() as other:
                    await other.execute(text("INSERT INTO t (v) VALUES ('second')"))
            assert time.monotonic() - began >= 0.2
    finally:
        await engine.dispose()
