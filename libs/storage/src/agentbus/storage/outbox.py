"""Queries over the outbox: what is still to publish, and marking it published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import OutboxEntry, utcnow

__all__ = ["mark_published", "pending"]


async def pending(
    session: AsyncSession,
    *,
    ids: Sequence[int] | None = None,
    up_to_id: int | None = None,
    created_before: datetime | None = None,
    limit: int = 500,
    skip_locked: bool = False,
) -> list[OutboxEntry]:
    """Unpublished entries in write order: only `ids`, those up to an id, or older than a time."""
    query = select(OutboxEntry).where(col(OutboxEntry.published_at).is_(None))
    if ids is not None:
        query = query.where(col(OutboxEntry.id).in_(list(ids)))
    if up_to_id is not None:
        query = query.where(col(OutboxEntry.id) <= up_to_id)
    if created_before is not None:
        query = query.where(col(OutboxEntry.created_at) < created_before)
    query = query.order_by(col(OutboxEntry.id)).limit(limit)
    if skip_locked:
        # PostgreSQL: replicas relaying at once take disjoint rows instead of duplicates.
        query = query.with_for_update(skip_locked=True)
    result = await session.exec(query)
    return list(result.all())


async def mark_published(session: AsyncSession, ids: Sequence[int]) -> None:
    """Stamp entries as published (the caller commits)."""
    if ids:
        await session.exec(
            update(OutboxEntry)
            .where(col(OutboxEntry.id).in_(list(ids)))
            .values(published_at=utcnow())
        )
