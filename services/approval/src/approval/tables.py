"""The approval service's tables, on its own metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from agentbus.storage.tables import as_utc, utcnow

__all__ = [
    "ApprovalRow",
    "ApprovalTable",
    "DelegationRow",
    "VoteRow",
    "WebhookDelivery",
    "approval_metadata",
]

BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; SQLite would otherwise hand back naive datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use timezone-aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


def _when(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable))


def _now() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class ApprovalTable(SQLModel, registry=registry()):
    """Base of the approval tables: their own metadata, never the global one."""


approval_metadata: MetaData = ApprovalTable.metadata


class ApprovalRow(ApprovalTable, table=True):
    """One approval request and its state; `version` serialises votes on it."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_id", name="uq_approval_request"),
        Index("ix_approval_pending", "tenant_id", "status", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=255)
    request_id: str = Field(max_length=255)
    run_id: str = Field(max_length=255, index=True)
    step_id: str = Field(max_length=128)
    attempt: int = 1
    subject: str = Field(max_length=500)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    payload_sha256: str = Field(max_length=71)
    required_approvals: int
    rejections_needed: int
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalation_roles: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    on_expiry: str = Field(max_length=16)
    escalation_window_s: float
    escalation_deadline: datetime | None = _when(nullable=True)
    requested_by_kind: str = Field(max_length=16)
    requested_by: str = Field(max_length=256)
    status: str = Field(max_length=16)
    level: int = 0
    deadline: datetime = _when()
    created_at: datetime = _now()
    decided_at: datetime | None = _when(nullable=True)
    reason: str | None = Field(default=None, max_length=1000)
    traceparent: str | None = Field(default=None, max_length=64)
    version: int = 0


class VoteRow(ApprovalTable, table=True):
    """One person's vote; the unique key is the one-vote-per-person rule."""

    __tablename__ = "approval_votes"
    __table_args__ = (UniqueConstraint("approval_id", "voter", name="uq_approval_vote"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    tenant_id: str = Field(max_length=255)
    approval_id: str = Field(max_length=64, index=True)
    voter: str = Field(max_length=256)
    choice: str = Field(max_length=16)
    comment: str | None = Field(default=None, max_length=2000)
    payload_sha256: str = Field(max_length=71)
    on_behalf_of: str | None = Field(default=None, max_length=256)
    created_at: datetime = _now()


class DelegationRow(ApprovalTable, table=True):
    """A vote handed from one person to another, kept for the record."""

    __tablename__ = "approval_delegations"

    approval_id: str = Field(primary_key=True, max_length=64)
    delegator: str = Field(primary_key=True, max_length=256)
    tenant_id: str = Field(max_length=255)
    delegate: str = Field(max_length=256)
    comment: str | None = Field(default=None, max_length=2000)
    created_at: datetime = _now()


class WebhookDelivery(ApprovalTable, table=True):
    """A notification to send; written with the state change, sent in the background."""

    __tablename__ = "approval_webhooks"
    __table_args__ = (Index("ix_approval_webhooks_due", "delivered_at", "next_attempt_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    event_id: str = Field(max_length=255, unique=True)
    tenant_id: str = Field(max_length=255)
    kind: str = Field(max_length=64)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = _now()
    delivered_at: datetime | None = _when(nullable=True)
    given_up_at: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
