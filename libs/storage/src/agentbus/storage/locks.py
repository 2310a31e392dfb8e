"""Cross-process turns for work that must not run twice at once on one database."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["relay_turn"]


@contextlib.asynccontextmanager
async def relay_turn(engine: AsyncEngine) -> AsyncIterator[bool]:
    """True while this caller alone relays the outbox of a SQLite file; never waits.

    Two replicas on one SQLite file would otherwise both read the same unpublished rows
    and both send them. A file lock (released by the OS if the process dies) serialises
    relays without holding the database's write lock during the Kafka send, so handlers
    keep committing while a relay waits on the broker. PostgreSQL needs no turn: its
    relays divide rows with FOR UPDATE SKIP LOCKED.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield True
        return
    fd = os.open(f"{database}-relay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False  # another replica is relaying; it sends these rows too
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock
