"""The bus's tables: inbox and outbox (effectively-once processing) and durable timers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = [
    "BusTable",
    "InboxEntry",
    "OutboxEntry",
    "TimerEntry",
    "as_utc",
    "bus_metadata",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the tables use."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored time in UTC: SQLite hands DateTime columns back without a zone, and every
    stored time is UTC, so a naive value is taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class BusTable(SQLModel, registry=registry()):
    """Base of the bus's own tables: their own metadata, never the global SQLModel one."""


bus_metadata: MetaData = BusTable.metadata

# 64-bit ids and offsets (Kafka offsets are int64); SQLite's rowid is already 64-bit and
# autoincrements only when declared INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class InboxEntry(BusTable, table=True):
    """An event a consumer group has handled; written in the handler's transaction."""

    __tablename__ = "agentbus_inbox"
    # Pruning finds old rows by age: without it, each prune read the whole inbox.
    __table_args__ = (Index("ix_agentbus_inbox_handled_at", "handled_at"),)

    # The tenant is part of the key: producers choose event ids, and one tenant's record
    # must never make another tenant's record with the same id a duplicate.
    consumer_group: str = Field(primary_key=True, max_length=255)
    event_id: str = Field(primary_key=True, max_length=255)
    tenant_id: str = Field(primary_key=True, max_length=255, index=True)
    topic: str = Field(max_length=255)
    partition: int
    offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    handled_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class OutboxEntry(BusTable, table=True):
    """An encoded record to publish once the transaction that wrote it has committed."""

    __tablename__ = "agentbus_outbox"
    __table_args__ = (Index("ix_agentbus_outbox_pending", "published_at", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    event_id: str = Field(max_length=255, unique=True)
    tenant_id: str = Field(max_length=255, index=True)
    topic: str = Field(max_length=255)
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    published_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


# Pending timers only: fired and cancelled rows never slow the scan for due ones.
_PENDING = text("fired_at IS NULL AND cancelled_at IS NULL")


class TimerEntry(BusTable, table=True):
    """An encoded event to move to the outbox once `fire_at` has passed, unless cancelled."""

    __tablename__ = "agentbus_timers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "timer_id", name="uq_agentbus_timers_tenant_timer"),
        Index(
            "ix_agentbus_timers_due",
            "fire_at",
            "id",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    tenant_id: str = Field(max_length=255)
    timer_id: str = Field(max_length=255)
    event_id: str = Field(max_length=255, unique=True)
    topic: str = Field(max_length=255)
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))
    fire_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    fired_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    cancelled_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
