"""Inbox and outbox tables: the two halves of effectively-once processing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary
from sqlmodel import Field, SQLModel

__all__ = ["InboxEntry", "OutboxEntry", "utcnow"]


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the tables use."""
    return datetime.now(UTC)


class InboxEntry(SQLModel, table=True):
    """An event a consumer group has handled; written in the handler's transaction."""

    __tablename__ = "agentbus_inbox"

    consumer_group: str = Field(primary_key=True, max_length=255)
    event_id: str = Field(primary_key=True, max_length=255)
    tenant_id: str = Field(max_length=255, index=True)
    topic: str = Field(max_length=255)
    partition: int
    offset: int
    handled_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class OutboxEntry(SQLModel, table=True):
    """An encoded record to publish once the transaction that wrote it has committed."""

    __tablename__ = "agentbus_outbox"
    __table_args__ = (Index("ix_agentbus_outbox_pending", "published_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
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
