"""Budget holds: taken by conditional UPDATEs in one transaction, settled exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from agentbus.storage import TenantRepository, UnitOfWork
from agentbus.storage.tables import utcnow

from .config import BudgetConfig
from .sql import insert_for
from .tables import BudgetCounter, Reservation

__all__ = ["NANOS_PER_USD", "BudgetRepository", "Hold", "stale_holds"]

NANOS_PER_USD = 1_000_000_000
_ZERO = {"usd_spent_nanos": 0, "usd_reserved_nanos": 0, "tokens_spent": 0, "tokens_reserved": 0}


@dataclass(frozen=True, slots=True)
class Hold:
    """The outcome of a reservation attempt."""

    ok: bool
    new: bool = False
    exceeded: str | None = None
    finished: bool = False


class BudgetRepository(TenantRepository[Reservation]):
    """Holds against day and month limits, taken by conditional UPDATEs in one transaction."""

    model = Reservation

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        self.uow = uow

    async def reserve(
        self,
        request_id: str,
        *,
        usd_nanos: int,
        tokens: int,
        day: str,
        month: str,
        limits: BudgetConfig,
    ) -> Hold:
        """Hold `usd_nanos` and `tokens`, or refuse; a second call for one request reuses it."""
        inserted = await self.session.exec(
            insert_for(self.uow, Reservation)
            .values(
                tenant_id=self.tenant_id,
                request_id=request_id,
                day=day,
                month=month,
                usd_nanos=usd_nanos,
                tokens=tokens,
                state="held",
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
            # RETURNING, not rowcount: it says for certain whether this call inserted.
            .returning(col(Reservation.request_id))
        )
        if inserted.first() is None:
            # Held: a re-run of an unfinished request reuses its hold. Settled or released:
            # the request already finished, and running it again would be a free call.
            existing = await self.get(self.tenant_id, request_id)
            held = existing is not None and existing.state == "held"
            return Hold(ok=held, finished=not held)
        await self.session.exec(
            insert_for(self.uow, BudgetCounter)
            .values([{"tenant_id": self.tenant_id, "period": p, **_ZERO} for p in (month, day)])
            .on_conflict_do_nothing()
        )
        # One statement checks and takes both periods: concurrent holds serialise on the row
        # locks (PostgreSQL re-evaluates the WHERE after waiting; SQLite has one writer).
        fits = or_(
            self._fits(month, usd_nanos, _usd(limits.month_usd), tokens, limits.month_tokens),
            self._fits(day, usd_nanos, _usd(limits.day_usd), tokens, limits.day_tokens),
        )
        taken = await self.session.exec(
            update(BudgetCounter)
            .where(col(BudgetCounter.tenant_id) == self.tenant_id, fits)
            .values(
                usd_reserved_nanos=col(BudgetCounter.usd_reserved_nanos) + usd_nanos,
                tokens_reserved=col(BudgetCounter.tokens_reserved) + tokens,
            )
            .returning(col(BudgetCounter.period))
        )
        periods = {period for (period,) in taken.all()}
        if periods != {month, day}:
            # One period refused: give back what the other took, and drop the reservation.
            await self._move(sorted(periods), -usd_nanos, -tokens, 0, 0)
            await self.session.exec(
                delete(Reservation).where(
                    col(Reservation.tenant_id) == self.tenant_id,
                    col(Reservation.request_id) == request_id,
                )
            )
            return Hold(ok=False, exceeded="month" if month not in periods else "day")
        return Hold(ok=True, new=True)

    async def settle(
        self, request_id: str, *, usd_nanos: int, tokens: int, state: str = "settled"
    ) -> bool:
        """Replace the hold by the actual spend, once; False if already settled or absent."""
        result = await self.session.exec(
            update(Reservation)
            .where(
                col(Reservation.tenant_id) == self.tenant_id,
                col(Reservation.request_id) == request_id,
                col(Reservation.state) == "held",
            )
            .values(state=state)
            .returning(
                col(Reservation.usd_nanos),
                col(Reservation.tokens),
                col(Reservation.month),
                col(Reservation.day),
            )
        )
        held = result.first()
        if held is None:
            return False
        held_usd, held_tokens, month, day = held
        await self._move([month, day], -held_usd, -held_tokens, usd_nanos, tokens)
        return True

    async def spent(self, period: str) -> BudgetCounter | None:
        """The counter of one period."""
        query = select(BudgetCounter).where(*self._counter(period))
        return (await self.session.exec(query)).first()

    def _counter(self, period: str) -> tuple[ColumnElement[bool], ...]:
        return (
            col(BudgetCounter.tenant_id) == self.tenant_id,
            col(BudgetCounter.period) == period,
        )

    def _fits(
        self, period: str, usd: int, usd_limit: int | None, tokens: int, token_limit: int | None
    ) -> ColumnElement[bool]:
        """The counter row of `period`, if the hold fits under its limits."""
        conditions: list[ColumnElement[bool]] = [col(BudgetCounter.period) == period]
        if usd_limit is not None:
            total = col(BudgetCounter.usd_spent_nanos) + col(BudgetCounter.usd_reserved_nanos)
            conditions.append(total + usd <= usd_limit)
        if token_limit is not None:
            total = col(BudgetCounter.tokens_spent) + col(BudgetCounter.tokens_reserved)
            conditions.append(total + tokens <= token_limit)
        return and_(*conditions)

    async def _move(
        self,
        periods: list[str],
        reserved_usd: int,
        reserved_tokens: int,
        spent_usd: int,
        spent: int,
    ) -> None:
        if not periods:
            return
        await self.session.exec(
            update(BudgetCounter)
            .where(
                col(BudgetCounter.tenant_id) == self.tenant_id,
                col(BudgetCounter.period).in_(periods),
            )
            .values(
                usd_reserved_nanos=col(BudgetCounter.usd_reserved_nanos) + reserved_usd,
                tokens_reserved=col(BudgetCounter.tokens_reserved) + reserved_tokens,
                usd_spent_nanos=col(BudgetCounter.usd_spent_nanos) + spent_usd,
                tokens_spent=col(BudgetCounter.tokens_spent) + spent,
            )
        )


async def stale_holds(
    session: Any, *, prefix: str, before: datetime, limit: int = 500
) -> list[tuple[str, str]]:
    """(tenant, request id) of holds still open since before `before`, ids starting `prefix`.

    A maintenance query across tenants: each hold it finds is released through that
    tenant's own BudgetRepository.
    """
    query = (
        select(Reservation.tenant_id, Reservation.request_id)
        .where(
            col(Reservation.state) == "held",
            col(Reservation.created_at) < before,
            col(Reservation.request_id).startswith(prefix),
        )
        .limit(limit)
    )
    return [(tenant, request) for tenant, request in (await session.exec(query)).all()]


def _usd(limit: Any) -> int | None:
    return None if limit is None else int(limit * NANOS_PER_USD)
