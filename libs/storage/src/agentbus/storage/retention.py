"""Pruning of bookkeeping rows that can no longer matter."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, or_
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import InboxEntry, OutboxEntry, TimerEntry

__all__ = ["Pruned", "prune"]


class Pruned(NamedTuple):
    """Rows deleted by one prune."""

    inbox: int
    outbox: int
    timers: int


async def prune(
    session: AsyncSession, *, handled_before: datetime, keep_topics: Collection[str] = ()
) -> Pruned:
    """Delete bookkeeping older than `handled_before` that nothing can need any more.

    Inbox entries go once Kafka can no longer redeliver their events (the caller's window
    must exceed topic retention; entries of `keep_topics`, kept forever, stay). Outbox rows
    go only once published, timers only once fired or cancelled: a pending timer and the
    unpublished row of a fired one are never deleted, however old.
    """
    inbox_query = delete(InboxEntry).where(col(InboxEntry.handled_at) < handled_before)
    if keep_topics:
        inbox_query = inbox_query.where(col(InboxEntry.topic).not_in(list(keep_topics)))
    inbox = await session.exec(inbox_query)
    outbox = await session.exec(
        delete(OutboxEntry).where(
            col(OutboxEntry.published_at).is_not(None),
            col(OutboxEntry.published_at) < handled_before,
        )
    )
    timers = await session.exec(
        delete(TimerEntry).where(
            or_(
                col(TimerEntry.fired_at) < handled_before,
                col(TimerEntry.cancelled_at) < handled_before,
            )
        )
    )
    await session.commit()
    return Pruned(inbox.rowcount, outbox.rowcount, timers.rowcount)
