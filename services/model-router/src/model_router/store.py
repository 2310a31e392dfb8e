"""Repositories over the shared database: rate windows, cache and the call ledger.

Budget holds live in `budgets`; both are re-exported here for the service.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from agentbus.storage import Insert, TenantRepository, UnitOfWork, prepared, table_of
from agentbus.storage.tables import utcnow

from .budgets import BudgetRepository, Hold, stale_holds
from .config import RateLimitConfig
from .sql import rows_matched
from .tables import CacheEntry, CallRecord, RateWindow

_WINDOWS = table_of(RateWindow)
_CACHE = table_of(CacheEntry)
_CALLS = table_of(CallRecord)

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
        window = {"tenant_id": self.tenant_id, "window_start": window_start}
        await self.session.exec(
            prepared(self.uow, _new_window),
            params={**window, "requests": 0, "tokens": 0},
        )
        shape = (rpm is not None, tpm is not None)
        result = await self.session.exec(
            prepared(self.uow, _count_request(*shape), key=("model_router.count_request", shape)),
            params={
                "b_tenant": self.tenant_id,
                "b_window": window_start,
                "b_tokens": tokens,
                "b_rpm": rpm,
                "b_tpm": tpm,
            },
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
        await self.session.exec(
            prepared(self.uow, _store_answer),
            params={
                "tenant_id": self.tenant_id,
                "key": key,
                "payload": payload,
                "expires_at": expires_at,
            },
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
        result = await self.session.exec(prepared(self.uow, _new_call), params=values)
        return result.first() is not None


def _new_window(insert: Insert) -> Any:
    return insert(_WINDOWS).on_conflict_do_nothing()


def _count_request(requests_limited: bool, tokens_limited: bool) -> Callable[[Insert], Any]:
    """Count a request in its window where it stays under the limits that exist."""

    def build(_insert: Insert) -> Any:
        c = _WINDOWS.c
        tokens = bindparam("b_tokens", type_=BigInteger)
        conditions: list[ColumnElement[bool]] = [
            c.tenant_id == bindparam("b_tenant"),
            c.window_start == bindparam("b_window", type_=BigInteger),
        ]
        if requests_limited:
            conditions.append(c.requests + 1 <= bindparam("b_rpm"))
        if tokens_limited:
            # A single request larger than the whole limit still passes in an empty window.
            limit = bindparam("b_tpm", type_=BigInteger)
            conditions.append(or_(c.tokens + tokens <= limit, c.tokens == 0))
        return (
            update(_WINDOWS)
            .where(and_(*conditions))
            .values(requests=c.requests + 1, tokens=c.tokens + tokens)
        )

    return build


def _store_answer(insert: Insert) -> Any:
    statement = insert(_CACHE)
    return statement.on_conflict_do_update(
        index_elements=["tenant_id", "key"],
        set_={"payload": statement.excluded.payload, "expires_at": statement.excluded.expires_at},
    )


def _new_call(insert: Insert) -> Any:
    return insert(_CALLS).on_conflict_do_nothing().returning(_CALLS.c.request_id)
