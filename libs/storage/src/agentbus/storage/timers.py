"""Firing due timers: each moves to the outbox and is marked fired in one transaction."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import OutboxEntry, TimerEntry, utcnow

__all__ = ["fire_due"]

log = logging.getLogger("agentbus.storage.timers")


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
    query = (
        select(TimerEntry)
        .where(*is_due)
        .order_by(col(TimerEntry.fire_at), col(TimerEntry.id))
        .limit(limit)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True)
    due = list((await session.exec(query)).all())
    if not due:
        await session.commit()
        return []
    taken = await _already_in_outbox(session, [t.event_id for t in due])
    fired_at = utcnow()
    entries = []
    for timer in due:
        timer.fired_at = fired_at
        session.add(timer)
        if timer.event_id in taken:
            # Its event was also published directly: send it once, never block the poller.
            log.warning("timer event already in the outbox", extra={"fields": _ids(timer)})
            continue
        entries.append(_outbox_row(timer))
    session.add_all(entries)
    await session.commit()
    return [entry.id for entry in entries if entry.id is not None]


async def _already_in_outbox(session: AsyncSession, event_ids: list[str]) -> set[str]:
    query = select(col(OutboxEntry.event_id)).where(col(OutboxEntry.event_id).in_(event_ids))
    return set((await session.exec(query)).all())


def _outbox_row(timer: TimerEntry) -> OutboxEntry:
    return OutboxEntry(
        event_id=timer.event_id,
        tenant_id=timer.tenant_id,
        topic=timer.topic,
        key=timer.key,
        value=timer.value,
        headers=timer.headers,
    )


def _ids(timer: TimerEntry) -> dict[str, str]:
    return {"timer_id": timer.timer_id, "event_id": timer.event_id, "tenant_id": timer.tenant_id}
