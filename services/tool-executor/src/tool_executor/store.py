"""The tool-executor's tables, on its own metadata: registry, grants, call results, approvals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = [
    "MIGRATIONS",
    "ApprovalRow",
    "CallRow",
    "DefinitionRow",
    "GrantRow",
    "ToolExecutorTable",
    "utcnow",
]

MIGRATIONS = Path(__file__).parent / "migrations" / "versions"


def utcnow() -> datetime:
    """Timezone-aware now."""
    return datetime.now(UTC)


def _when() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class ToolExecutorTable(SQLModel, registry=registry()):
    """Base of this service's tables: their own metadata, not SQLModel's global one."""


class DefinitionRow(ToolExecutorTable, table=True):
    """One registered version of a tool; tenant `*` is shared by every tenant."""

    __tablename__ = "tool_definitions"

    tenant_id: str = Field(primary_key=True, max_length=255)
    name: str = Field(primary_key=True, max_length=128)
    version: str = Field(primary_key=True, max_length=64)
    content_hash: str = Field(max_length=71)
    source: str = Field(max_length=255, description="file or mcp:<server>")
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    registered_at: datetime = _when()


class GrantRow(ToolExecutorTable, table=True):
    """A tenant's grant for one tool (deny by default: no row, no call)."""

    __tablename__ = "tool_grants"

    tenant_id: str = Field(primary_key=True, max_length=255)
    tool: str = Field(primary_key=True, max_length=128)
    grant: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _when()


class CallRow(ToolExecutorTable, table=True):
    """The idempotency store: a running reservation, then the stored result of a key."""

    __tablename__ = "tool_calls"

    tenant_id: str = Field(primary_key=True, max_length=255)
    idempotency_key: str = Field(primary_key=True, max_length=255)
    state: str = Field(max_length=16, description="running or succeeded")
    owner_event_id: str = Field(max_length=255)
    lease_until: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    tool: str = Field(max_length=128)
    version: str = Field(max_length=64)
    result: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    duration_ms: int = 0
    updated_at: datetime = _when()


class ApprovalRow(ToolExecutorTable, table=True):
    """What the executor learnt from approval.requests and approval.decisions."""

    __tablename__ = "tool_approvals"

    tenant_id: str = Field(primary_key=True, max_length=255)
    request_id: str = Field(primary_key=True, max_length=255)
    approval_id: str | None = Field(default=None, max_length=255, index=True)
    run_id: str | None = Field(default=None, max_length=255)
    step_id: str | None = Field(default=None, max_length=128)
    tool: str | None = Field(default=None, max_length=128)
    arguments_sha256: str | None = Field(default=None, max_length=71)
    outcome: str = Field(default="pending", max_length=16)
    updated_at: datetime = _when()
