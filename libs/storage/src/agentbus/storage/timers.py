"""Firing due timers: each moves to the outbox and is marked fired in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import OutboxEntry, TimerEntry, utcnow

__all__ = ["fire_due"]

log = logging.getLogger("agentbus.storage.timers")
# The columns a timer hands on to its outbox row, unchanged.
_EVENT_COLUMNS = ("event_id", "tenant_id", "topic", "key", "value", "headers")


async def fire_due(session: AsyncSession, *, limit: int) -> list[int]:
    """Claim up to `limit` due timers, write their outbox rows, commit; the new outbox ids.

    Replicas never fire one timer twice: PostgreSQL skips rows another replica has locked
    (`FOR UPDATE SKIP LOCKED`), SQLite takes the write lock before reading.
    """
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    # PostgreSQL: the database's clock, one for every replica; never early by a skewed host.
    now: ColumnElement[datetime] | datetime = func.now() if postgres else utcnow()
    is_due = (
        col(TimerEntry.fired_at).is_(None),
        col(TimerEntry.cancelled_at).is_(None),
        col(TimerEntry.fire_at) <= now,
    )
    # A plain read first: polling an idle database must not take its write lock.
    anything_due = (await session.exec(select(col(TimerEntry.id)).where(*is_due).limit(1))).first()
    await session.rollback()
    if anything_due is None:
        return []
    if not postgres:
        connection = await session.connection()
        # A write transaction from the first read: no other writer can claim the same rows.
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
    timers = TimerEntry.__table__  # type: ignore[attr-defined]
    columns = [timers.c[name] for name in ("id", *_EVENT_COLUMNS, "timer_id")]
    query = (
        select(*columns)
        .where(*is_due)
        .order_by(col(TimerEntry.fire_at), col(TimerEntry.id))
        .limit(limit)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True)
    due = list((await session.exec(query)).mappings().all())
    if not due:
        await session.commit()
        return []
    # Plain rows and multi-row statements: no ORM objects to build for a burst of timers.
    await session.exec(
        update(timers).where(timers.c.id.in_([t["id"] for t in due])).values(fired_at=utcnow())
    )
    taken = await _already_in_outbox(session, [t["event_id"] for t in due])
    for timer in (t for t in due if t["event_id"] in taken):
        # Its event was also published directly: send it once, never block the poller.
        log.warning("timer event already in the outbox", extra={"fields": _ids(timer)})
    created_at = utcnow()
    rows = [
        {**{name: t[name] for name in _EVENT_COLUMNS}, "created_at": created_at}
        for t in due
        if t["event_id"] not in taken
    ]
    ids: list[int] = []
    if rows:
        outbox = OutboxEntry.__table__  # type: ignore[attr-defined]
        statement = insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True)
        ids = [row[0] for row in await session.exec(statement, params=rows)]
    await session.commit()
    return ids


async def _already_in_outbox(session: AsyncSession, event_ids: list[str]) -> set[str]:
    query = select(col(OutboxEntry.event_id)).where(col(OutboxEntry.event_id).in_(event_ids))
    return set((await session.exec(query)).all())


def _ids(timer: Mapping[str, Any]) -> dict[str, str]:
    return {name: timer[name] for name in ("timer_id", "event_id", "tenant_id")}
