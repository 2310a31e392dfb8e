"""Pruning of bookkeeping rows that can no longer matter."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import InboxEntry, OutboxEntry

__all__ = ["prune"]


async def prune(session: AsyncSession, *, handled_before: datetime) -> tuple[int, int]:
    """Delete inbox entries and *published* outbox rows older than `handled_before`.

    Safe once Kafka can no longer redeliver those events (the window must exceed topic
    retention); unpublished outbox rows are never deleted. Returns (inbox, outbox) counts.
    """
    inbox = await session.exec(
        delete(InboxEntry).where(col(InboxEntry.handled_at) < handled_before)
    )
    outbox = await session.exec(
        delete(OutboxEntry).where(
            col(OutboxEntry.published_at).is_not(None),
            col(OutboxEntry.published_at) < handled_before,
        )
    )
    await session.commit()
    return inbox.rowcount, outbox.rowcount
