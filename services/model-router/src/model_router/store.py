"""Repositories over the shared database: atomic budget holds, rate windows, cache, calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, literal, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from agentbus.storage import TenantRepository, UnitOfWork
from agentbus.storage.tables import utcnow

from .config import BudgetConfig, RateLimitConfig
from .tables import BudgetCounter, CacheEntry, CallRecord, RateWindow, Reservation

__all__ = [
    "BudgetRepository",
    "CacheRepository",
    "CallRepository",
    "Hold",
    "RateRepository",
    "stale_holds",
]

NANOS_PER_USD = 1_000_000_000
_ZERO = {"usd_spent_nanos": 0, "usd_reserved_nanos": 0, "tokens_spent": 0, "tokens_reserved": 0}


def _insert(uow: UnitOfWork, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """A Core INSERT (not ORM-enabled) for the session's dialect, with ON CONFLICT."""
    table = model.__table__
    if uow.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _rows(result: Any) -> int:
    """Rows matched by an INSERT/UPDATE/DELETE."""
    return int(getattr(result, "rowcount", 0))


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
            _insert(self.uow, Reservation)
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
            _insert(self.uow, BudgetCounter)
            .values([{"tenant_id": self.tenant_id, "period": p, **_ZERO} for p in (month, day)])
            .on_conflict_do_nothing()
        )
        periods = (
            (month, _usd(limits.month_usd), limits.month_tokens),
            (day, _usd(limits.day_usd), limits.day_tokens),
        )
        taken: list[str] = []
        for period, usd_limit, token_limit in periods:
            # One statement checks and takes: concurrent holds serialise on the row lock
            # (PostgreSQL re-evaluates the WHERE after waiting; SQLite has one writer).
            result = await self.session.exec(
                update(BudgetCounter)
                .where(*self._counter(period), *_fits(usd_nanos, usd_limit, tokens, token_limit))
                .values(
                    usd_reserved_nanos=col(BudgetCounter.usd_reserved_nanos) + usd_nanos,
                    tokens_reserved=col(BudgetCounter.tokens_reserved) + tokens,
                )
            )
            if _rows(result) != 1:
                for done in taken:
                    await self._move(done, -usd_nanos, -tokens, 0, 0)
                await self.session.exec(
                    delete(Reservation).where(
                        col(Reservation.tenant_id) == self.tenant_id,
                        col(Reservation.request_id) == request_id,
                    )
                )
                return Hold(ok=False, exceeded="day" if period == day else "month")
            taken.append(period)
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
        )
        if _rows(result) != 1:
            return False
        held = await self.get(self.tenant_id, request_id)
        assert held is not None
        for period in (held.month, held.day):
            await self._move(period, -held.usd_nanos, -held.tokens, usd_nanos, tokens)
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

    async def _move(
        self, period: str, reserved_usd: int, reserved_tokens: int, spent_usd: int, spent: int
    ) -> None:
        await self.session.exec(
            update(BudgetCounter)
            .where(*self._counter(period))
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


def _fits(
    usd: int, usd_limit: int | None, tokens: int, token_limit: int | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if usd_limit is not None:
        total = col(BudgetCounter.usd_spent_nanos) + col(BudgetCounter.usd_reserved_nanos)
        conditions.append(total + usd <= usd_limit)
    if token_limit is not None:
        total = col(BudgetCounter.tokens_spent) + col(BudgetCounter.tokens_reserved)
        conditions.append(total + tokens <= token_limit)
    return conditions


class RateRepository(TenantRepository[RateWindow]):
    """Fixed one-minute windows in the shared database, so limits hold across processes."""

    model = RateWindow

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        self.uow = uow

    async def claim(self, window_start: int, *, tokens: int, limits: RateLimitConfig) -> bool:
        """Count one request of `tokens` in the window, unless that would pass a limit."""
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        if rpm is None and tpm is None:
            return True
        await self.session.exec(
            _insert(self.uow, RateWindow)
            .values(tenant_id=self.tenant_id, window_start=window_start, requests=0, tokens=0)
            .on_conflict_do_nothing()
        )
        conditions: list[ColumnElement[bool]] = [
            col(RateWindow.tenant_id) == self.tenant_id,
            col(RateWindow.window_start) == window_start,
        ]
        if rpm is not None:
            conditions.append(col(RateWindow.requests) + 1 <= rpm)
        if tpm is not None:
            # A single request larger than the whole limit still passes in an empty window.
            conditions.append(
                or_(col(RateWindow.tokens) + tokens <= tpm, col(RateWindow.tokens) == 0)
            )
        result = await self.session.exec(
            update(RateWindow)
            .where(and_(*conditions))
            .values(
                requests=col(RateWindow.requests) + 1,
                tokens=col(RateWindow.tokens) + literal(tokens),
            )
        )
        return _rows(result) == 1


class CacheRepository(TenantRepository[CacheEntry]):
    """Exact-match answers of this tenant only."""

    model = CacheEntry

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        self.uow = uow

    async def lookup(self, key: str, now: datetime) -> dict[str, Any] | None:
        """The live payload under `key` for this tenant, if any."""
        found = await self.find(col(CacheEntry.key) == key, col(CacheEntry.expires_at) > now)
        return found[0].payload if found else None

    async def store(self, key: str, payload: dict[str, Any], expires_at: datetime) -> None:
        """Insert or refresh an entry."""
        statement = _insert(self.uow, CacheEntry).values(
            tenant_id=self.tenant_id, key=key, payload=payload, expires_at=expires_at
        )
        await self.session.exec(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "key"],
                set_={"payload": payload, "expires_at": expires_at},
            )
        )


class CallRepository(TenantRepository[CallRecord]):
    """The per-request ledger."""

    model = CallRecord

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        self.uow = uow

    async def save(self, values: dict[str, Any]) -> bool:
        """Insert one ledger row once; False when this request was already recorded."""
        values = {**values, "tenant_id": self.tenant_id, "created_at": utcnow()}
        result = await self.session.exec(
            _insert(self.uow, CallRecord)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(col(CallRecord.request_id))
        )
        return result.first() is not None
