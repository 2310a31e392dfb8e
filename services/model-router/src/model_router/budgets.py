"""Budget holds: taken by conditional UPDATEs in one transaction, settled exactly once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, delete, or_, update
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlmodel import col, select

from agentbus.storage import (
    Insert,
    TenantRepository,
    UnitOfWork,
    is_postgres,
    prepared,
    table_of,
)
from agentbus.storage.tables import utcnow

from .config import BudgetConfig
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


_HOLDS = table_of(Reservation)
_COUNTERS = table_of(BudgetCounter)
_TENANT: BindParameter[str] = bindparam("b_tenant")
_REQUEST: BindParameter[str] = bindparam("b_request")
_USD = bindparam("b_usd", type_=BigInteger)
_TOKENS = bindparam("b_tokens", type_=BigInteger)


def _new_hold(insert: Insert) -> Any:
    # Values come from the parameters. RETURNING, not rowcount: it says for certain
    # whether this call inserted.
    return insert(_HOLDS).on_conflict_do_nothing().returning(_HOLDS.c.request_id)


def _new_counters(insert: Insert) -> Any:
    return insert(_COUNTERS).on_conflict_do_nothing()


def _take(shape: tuple[bool, bool, bool, bool]) -> Callable[[Insert], Any]:
    """Take a hold from both periods' counters where it fits (`shape`: which limits exist)."""
    c = _COUNTERS.c

    def fits(prefix: str, usd_limited: bool, tokens_limited: bool) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = [c.period == bindparam(f"{prefix}_period")]
        if usd_limited:
            total = c.usd_spent_nanos + c.usd_reserved_nanos + _USD
            conditions.append(total <= bindparam(f"{prefix}_usd_limit", type_=BigInteger))
        if tokens_limited:
            total = c.tokens_spent + c.tokens_reserved + _TOKENS
            conditions.append(total <= bindparam(f"{prefix}_token_limit", type_=BigInteger))
        return and_(*conditions)

    def build(_insert: Insert) -> Any:
        month_usd, month_tokens, day_usd, day_tokens = shape
        return (
            update(_COUNTERS)
            .where(
                c.tenant_id == _TENANT,
                or_(fits("m", month_usd, month_tokens), fits("d", day_usd, day_tokens)),
            )
            .values(
                usd_reserved_nanos=c.usd_reserved_nanos + _USD,
                tokens_reserved=c.tokens_reserved + _TOKENS,
            )
            .returning(c.period)
        )

    return build


def _lock_counters(_insert: Insert) -> Any:
    # Row locks in one order (ORDER BY sits below FOR UPDATE in the plan): two routers that
    # hold the same tenant's month and day rows then queue instead of deadlocking.
    c = _COUNTERS.c
    return (
        select(c.period)
        .where(c.tenant_id == _TENANT, c.period.in_(bindparam("b_periods", expanding=True)))
        .order_by(c.period)
        .with_for_update()
    )


def _move_counters(_insert: Insert) -> Any:
    c = _COUNTERS.c
    return (
        update(_COUNTERS)
        .where(c.tenant_id == _TENANT, c.period.in_(bindparam("b_periods", expanding=True)))
        .values(
            usd_reserved_nanos=c.usd_reserved_nanos + bindparam("b_res_usd", type_=BigInteger),
            tokens_reserved=c.tokens_reserved + bindparam("b_res_tokens", type_=BigInteger),
            usd_spent_nanos=c.usd_spent_nanos + bindparam("b_spent_usd", type_=BigInteger),
            tokens_spent=c.tokens_spent + bindparam("b_spent_tokens", type_=BigInteger),
        )
    )


def _settle_hold(_insert: Insert) -> Any:
    h = _HOLDS.c
    return (
        update(_HOLDS)
        .where(h.tenant_id == _TENANT, h.request_id == _REQUEST, h.state == "held")
        .values(state=bindparam("b_state"))
        .returning(h.usd_nanos, h.tokens, h.month, h.day)
    )


def _drop_hold(_insert: Insert) -> Any:
    h = _HOLDS.c
    return delete(_HOLDS).where(h.tenant_id == _TENANT, h.request_id == _REQUEST)


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
        uow, tenant = self.uow, self.tenant_id
        hold = {
            "tenant_id": tenant,
            "request_id": request_id,
            "day": day,
            "month": month,
            "usd_nanos": usd_nanos,
            "tokens": tokens,
            "state": "held",
            "created_at": utcnow(),
        }
        inserted = await self.session.exec(prepared(uow, _new_hold), params=hold)
        if inserted.first() is None:
            # Held: a re-run of an unfinished request reuses its hold. Settled or released:
            # the request already finished, and running it again would be a free call.
            existing = await self.get(tenant, request_id)
            held = existing is not None and existing.state == "held"
            return Hold(ok=held, finished=not held)
        await self.session.exec(
            prepared(uow, _new_counters),
            params=[{"tenant_id": tenant, "period": p, **_ZERO} for p in (month, day)],
        )
        # One statement checks and takes both periods, on rows locked in a fixed order first:
        # concurrent holds serialise on them (SQLite has one writer).
        await self._lock([month, day])
        limited = (
            _usd(limits.month_usd),
            limits.month_tokens,
            _usd(limits.day_usd),
            limits.day_tokens,
        )
        month_usd, month_tokens, day_usd, day_tokens = (x is not None for x in limited)
        shape = (month_usd, month_tokens, day_usd, day_tokens)
        taken = await self.session.exec(
            prepared(uow, _take(shape), key=("model_router.take", shape)),
            params={
                "b_tenant": tenant,
                "b_usd": usd_nanos,
                "b_tokens": tokens,
                "m_period": month,
                "d_period": day,
                "m_usd_limit": limited[0],
                "m_token_limit": limited[1],
                "d_usd_limit": limited[2],
                "d_token_limit": limited[3],
            },
        )
        periods = {period for (period,) in taken.all()}
        if periods != {month, day}:
            # One period refused: give back what the other took, and drop the reservation.
            await self._move(sorted(periods), -usd_nanos, -tokens, 0, 0)
            await self.session.exec(
                prepared(uow, _drop_hold),
                params={"b_tenant": tenant, "b_request": request_id},
            )
            return Hold(ok=False, exceeded="month" if month not in periods else "day")
        return Hold(ok=True, new=True)

    async def settle(
        self, request_id: str, *, usd_nanos: int, tokens: int, state: str = "settled"
    ) -> bool:
        """Replace the hold by the actual spend, once; False if already settled or absent."""
        result = await self.session.exec(
            prepared(self.uow, _settle_hold),
            params={"b_tenant": self.tenant_id, "b_request": request_id, "b_state": state},
        )
        held = result.first()
        if held is None:
            return False
        held_usd, held_tokens, month, day = held
        await self._lock([month, day])
        await self._move([month, day], -held_usd, -held_tokens, usd_nanos, tokens)
        return True

    async def spent(self, period: str) -> BudgetCounter | None:
        """The counter of one period."""
        query = select(BudgetCounter).where(
            col(BudgetCounter.tenant_id) == self.tenant_id, col(BudgetCounter.period) == period
        )
        return (await self.session.exec(query)).first()

    async def _lock(self, periods: list[str]) -> None:
        """Lock these periods' counter rows, in period order (PostgreSQL; SQLite has one writer)."""
        if not is_postgres(self.session.get_bind()):
            return
        await self.session.exec(
            prepared(self.uow, _lock_counters),
            params={"b_tenant": self.tenant_id, "b_periods": periods},
        )

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
            prepared(self.uow, _move_counters),
            params={
                "b_tenant": self.tenant_id,
                "b_periods": periods,
                "b_res_usd": reserved_usd,
                "b_res_tokens": reserved_tokens,
                "b_spent_usd": spent_usd,
                "b_spent_tokens": spent,
            },
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
