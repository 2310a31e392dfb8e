"""Queries over the outbox: what is still to publish, and marking it published."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import OutboxEntry, utcnow

__all__ = ["mark_published", "pending"]


_OUTBOX: Any = OutboxEntry.__table__  # type: ignore[attr-defined]
# Only what the relay sends, as plain rows: no ORM objects for rows read once and dropped.
_COLUMNS = (_OUTBOX.c.id, _OUTBOX.c.topic, _OUTBOX.c.key, _OUTBOX.c.value, _OUTBOX.c.headers)


async def pending(
    session: AsyncSession,
    *,
    ids: Sequence[int] | None = None,
    up_to_id: int | None = None,
    created_before: datetime | None = None,
    limit: int = 500,
    skip_locked: bool = False,
) -> list[Row[Any, Any, Any, Any, Any]]:
    """Unpublished entries in write order: only `ids`, those up to an id, or older than a time.

    Each row has the entry's id, topic, key, value and headers.
    """
    query = select(*_COLUMNS).where(_OUTBOX.c.published_at.is_(None))
    if ids is not None:
        query = query.where(_OUTBOX.c.id.in_(list(ids)))
    if up_to_id is not None:
        query = query.where(_OUTBOX.c.id <= up_to_id)
    if created_before is not None:
        query = query.where(_OUTBOX.c.created_at < created_before)
    query = query.order_by(_OUTBOX.c.id).limit(limit)
    if skip_locked:
        # PostgreSQL: replicas relaying at once take disjoint rows instead of duplicates.
        query = query.with_for_update(skip_locked=True)
    connection = await session.connection()
    return list((await connection.execute(query)).all())


async def mark_published(session: AsyncSession, ids: Sequence[int]) -> None:
    """Stamp entries as published (the caller commits)."""
    if ids:
        connection = await session.connection()
        await connection.execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_(list(ids))).values(published_at=utcnow())
        )
