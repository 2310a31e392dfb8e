"""The router's tables, on its own metadata: budgets, reservations, rate windows, cache, calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from agentbus.storage.tables import utcnow

__all__ = [
    "METADATA",
    "BudgetCounter",
    "CacheEntry",
    "CallRecord",
    "RateWindow",
    "Reservation",
    "RouterTable",
]


class RouterTable(SQLModel, registry=registry()):
    """Base of the router's tables: its own metadata, not the global SQLModel one."""


METADATA = RouterTable.metadata

# Money is stored as integer nano-dollars: exact, and comparable inside one UPDATE on both
# SQLite (which has no decimal type) and PostgreSQL.


class BudgetCounter(RouterTable, table=True):
    """Spent and reserved amounts of one tenant in one period (day or month)."""

    __tablename__ = "router_budget_counter"

    tenant_id: str = Field(primary_key=True, max_length=255)
    period: str = Field(primary_key=True, max_length=16, description="YYYY-MM-DD or YYYY-MM")
    usd_spent_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    usd_reserved_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    tokens_spent: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    tokens_reserved: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class Reservation(RouterTable, table=True):
    """A hold on a tenant's budget for one call, released or settled exactly once."""

    __tablename__ = "router_reservation"

    tenant_id: str = Field(primary_key=True, max_length=255)
    request_id: str = Field(primary_key=True, max_length=255)
    day: str = Field(max_length=16)
    month: str = Field(max_length=16)
    usd_nanos: int = Field(sa_column=Column(BigInteger, nullable=False))
    tokens: int = Field(sa_column=Column(BigInteger, nullable=False))
    state: str = Field(default="held", max_length=16, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class RateWindow(RouterTable, table=True):
    """Requests and tokens of one tenant in one fixed one-minute window."""

    __tablename__ = "router_rate_window"

    tenant_id: str = Field(primary_key=True, max_length=255)
    window_start: int = Field(primary_key=True, sa_type=BigInteger)
    requests: int = Field(default=0)
    tokens: int = Field(default=0, sa_type=BigInteger)


class CacheEntry(RouterTable, table=True):
    """A cached answer; its key already includes the tenant, and so does its primary key."""

    __tablename__ = "router_cache"

    tenant_id: str = Field(primary_key=True, max_length=255)
    key: str = Field(primary_key=True, max_length=64)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class CallRecord(RouterTable, table=True):
    """One answered request: who, which deployment, tokens, cost, outcome."""

    __tablename__ = "router_call"

    tenant_id: str = Field(primary_key=True, max_length=255)
    request_id: str = Field(primary_key=True, max_length=255)
    alias: str = Field(max_length=128)
    outcome: str = Field(max_length=32)
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    deployment_id: str | None = Field(default=None, max_length=128)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: str = Field(default="0", max_length=40, description="exact decimal string")
    cached: bool = False
    error_code: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
