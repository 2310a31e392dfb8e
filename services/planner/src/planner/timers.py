"""Durable timers in the planner's database: stored with the state, fired once via the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from agentbus.storage import UnitOfWork, UnitOfWorkFactory, is_postgres
from contracts.envelope import Envelope
from contracts.events.run import RunTimerFired

from .tables import TimerRow, utcnow

__all__ = ["TimerStore"]

_TimerEnvelope: Any = Envelope[RunTimerFired]


class TimerStore:
    """Schedule and cancel in the caller's transaction; `fire_due` moves due timers to the outbox.

    Replicas may all call `fire_due`: on PostgreSQL each due row is locked with SKIP
    LOCKED, on SQLite writers are serialised, and a timer row is deleted in the same
    transaction that queues its event, so each timer fires once.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic

    async def schedule(
        self, uow: UnitOfWork, envelope: Envelope[RunTimerFired], *, at: datetime, timer_id: str
    ) -> None:
        """Store (or replace) a timer in the caller's transaction."""
        row = await uow.session.get(TimerRow, timer_id)
        if row is None:
            row = TimerRow(
                timer_id=timer_id, tenant_id=uow.tenant_id, due_at=at, topic="", envelope={}
            )
        row.due_at = at
        row.topic = self.topic
        row.envelope = envelope.model_dump(mode="json")
        uow.session.add(row)

    async def cancel(self, uow: UnitOfWork, timer_id: str) -> None:
        """Drop a timer in the caller's transaction (nothing if it fired or never existed)."""
        await uow.session.exec(delete(TimerRow).where(col(TimerRow.timer_id) == timer_id))

    async def fire_due(self, factory: UnitOfWorkFactory, *, limit: int = 200) -> list[int]:
        """Queue every due timer (up to `limit` per tenant) in the outbox; the outbox row ids."""
        async with factory.sessions() as session:
            due = select(TimerRow.tenant_id).where(col(TimerRow.due_at) <= utcnow()).distinct()
            tenants = list((await session.exec(due)).all())
        published: list[int] = []
        for tenant in tenants:
            async with factory(tenant) as uow:
                query = (
                    select(TimerRow)
                    .where(col(TimerRow.tenant_id) == tenant, col(TimerRow.due_at) <= utcnow())
                    .order_by(col(TimerRow.due_at))
                    .limit(limit)
                )
                if is_postgres(factory.engine):
                    query = query.with_for_update(skip_locked=True)
                for row in (await uow.session.exec(query)).all():
                    uow.publish(_TimerEnvelope.model_validate(row.envelope), topic=row.topic)
                    await uow.session.delete(row)
                await uow.commit()
                published.extend(uow.published_ids)
        return published
