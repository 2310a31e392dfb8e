"""Durable timers: an envelope stored with the state that set it, published once when due.

The storage library is landing the same thing as `uow.schedule` / `uow.cancel_timer`;
until it does, this module keeps the approval service's timers in its own table with
the identical contract, so switching is a change to `schedule` and `cancel` only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select

from agentbus.storage import UnitOfWork, UnitOfWorkFactory
from agentbus.storage.tables import utcnow
from contracts.envelope import Envelope, decode, encode

from .tables import TimerRow

__all__ = ["TimerFirer", "cancel", "schedule"]

log = logging.getLogger("approval.timers")


def schedule(
    uow: UnitOfWork, envelope: Envelope[Any], *, at: datetime, timer_id: str, topic: str
) -> None:
    """Fire `envelope` to `topic` through the outbox at or after `at`, once (in `uow`'s tx)."""
    record = encode(envelope)
    uow.session.add(
        TimerRow(
            timer_id=timer_id,
            tenant_id=uow.tenant_id,
            fire_at=at,
            topic=topic,
            headers=[[name, value.decode()] for name, value in record.headers],
            value=record.value,
        )
    )


async def cancel(uow: UnitOfWork, timer_id: str) -> None:
    """Cancel a timer that has not fired (no-op otherwise), in `uow`'s transaction."""
    await uow.session.exec(
        delete(TimerRow).where(
            col(TimerRow.timer_id) == timer_id,
            col(TimerRow.tenant_id) == uow.tenant_id,
            col(TimerRow.fired_at).is_(None),
        )
    )


class TimerFirer:
    """Moves due timers into the outbox; any number of replicas may run one."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        published: Callable[[Sequence[int]], Awaitable[None]],
        *,
        batch_size: int,
    ) -> None:
        self.uow_factory = uow_factory
        self.published = published
        self.batch_size = batch_size

    async def fire_due(self) -> int:
        """Fire every timer due now; returns how many this process fired."""
        async with self.uow_factory.sessions() as session:
            due = (
                await session.exec(
                    select(TimerRow.timer_id, TimerRow.tenant_id)
                    .where(col(TimerRow.fired_at).is_(None), col(TimerRow.fire_at) <= utcnow())
                    .order_by(col(TimerRow.fire_at))
                    .limit(self.batch_size)
                )
            ).all()
        fired = 0
        for timer_id, tenant_id in due:
            fired += await self._fire(timer_id, tenant_id)
        return fired

    async def _fire(self, timer_id: str, tenant_id: str) -> int:
        async with self.uow_factory(tenant_id) as uow:
            # The conditional update is the claim: of two replicas, one changes the row.
            claimed = await uow.session.exec(
                update(TimerRow)
                .where(col(TimerRow.timer_id) == timer_id, col(TimerRow.fired_at).is_(None))
                .values(fired_at=utcnow())
            )
            if claimed.rowcount != 1:
                return 0
            row = await uow.session.get(TimerRow, timer_id)
            assert row is not None
            envelope = decode([(n, v) for n, v in row.headers], row.value)
            uow.publish(envelope, topic=row.topic)
            await uow.commit()
        await self.published(uow.published_ids)
        return 1
