"""Pruning of bookkeeping rows that can no longer matter."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, delete, or_, select, tuple_
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import InboxEntry, OutboxEntry, TimerEntry

__all__ = ["PRUNE_CHUNK", "Pruned", "prune"]

PRUNE_CHUNK = 5_000
"""Rows deleted per transaction: a short hold of the write lock, a short statement."""

_INBOX: Any = InboxEntry.__table__  # type: ignore[attr-defined]
_OUTBOX: Any = OutboxEntry.__table__  # type: ignore[attr-defined]
_TIMERS: Any = TimerEntry.__table__  # type: ignore[attr-defined]


class Pruned(NamedTuple):
    """Rows deleted by one prune."""

    inbox: int
    outbox: int
    timers: int


async def prune(
    session: AsyncSession,
    *,
    handled_before: datetime,
    keep_topics: Collection[str] = (),
    chunk: int = PRUNE_CHUNK,
) -> Pruned:
    """Delete bookkeeping older than `handled_before` that nothing can need any more.

    Inbox entries go once Kafka can no longer redeliver their events (the caller's window
    must exceed topic retention; entries of `keep_topics`, kept forever, stay). Outbox rows
    go only once published, timers only once fired or cancelled: a pending timer and the
    unpublished row of a fired one are never deleted, however old.

    Rows go `chunk` at a time, each chunk its own transaction: a day of bookkeeping is
    millions of rows, and one statement deleting them would hold the database's write lock
    (every handler's commit waits for it) and, on SQLite, the event loop, for seconds.
    """
    old_inbox = _INBOX.c.handled_at < handled_before
    if keep_topics:
        old_inbox = old_inbox & _INBOX.c.topic.not_in(list(keep_topics))
    inbox = await _delete_in_chunks(session, _INBOX, old_inbox, chunk)
    outbox = await _delete_in_chunks(
        session,
        _OUTBOX,
        _OUTBOX.c.published_at.is_not(None) & (_OUTBOX.c.published_at < handled_before),
        chunk,
    )
    timers = await _delete_in_chunks(
        session,
        _TIMERS,
        or_(_TIMERS.c.fired_at < handled_before, _TIMERS.c.cancelled_at < handled_before),
        chunk,
    )
    return Pruned(inbox, outbox, timers)


async def _delete_in_chunks(
    session: AsyncSession, table: Any, condition: ColumnElement[bool], chunk: int
) -> int:
    key = tuple_(*table.primary_key.columns)
    some = select(*table.primary_key.columns).where(condition).limit(chunk)
    deleted = 0
    while True:
        result = await session.exec(delete(table).where(key.in_(some)))
        await session.commit()
        deleted += result.rowcount
        if result.rowcount < chunk:
            return deleted
        await asyncio.sleep(0)  # handlers commit between chunks
