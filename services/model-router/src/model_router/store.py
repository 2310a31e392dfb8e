"""Repositories over the shared database: rate windows, cache and the call ledger.

Budget holds live in `budgets`; both are re-exported here for the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, literal, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from agentbus.storage import TenantRepository, UnitOfWork
from agentbus.storage.tables import utcnow

from .budgets import BudgetRepository, Hold, stale_holds
from .config import RateLimitConfig
from .sql import insert_for, rows_matched
from .tables import CacheEntry, CallRecord, RateWindow

__all__ = [
    "BudgetRepository",
    "CacheRepository",
    "CallRepository",
    "Hold",
    "RateRepository",
    "stale_holds",
]


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
            insert_for(self.uow, RateWindow)
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
        return rows_matched(result) == 1


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
        statement = insert_for(self.uow, CacheEntry).values(
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
            insert_for(self.uow, CallRecord)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(col(CallRecord.request_id))
        )
        return result.first() is not None
