"""The audit service's tables, on its own metadata: records, chain heads, checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, LargeBinary, MetaData
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = ["AuditCheckpoint", "AuditRecord", "AuditTable", "ChainHead", "audit_metadata"]

BigId = BigInteger().with_variant(Integer(), "sqlite")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuditTable(SQLModel, registry=registry()):
    """Base of the audit tables: their own metadata, never the global SQLModel one."""


audit_metadata: MetaData = AuditTable.metadata


class AuditRecord(AuditTable, table=True):
    """One link of a tenant's chain; append-only (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ux_audit_records_tenant_seq", "tenant_id", "seq", unique=True),
        Index("ux_audit_records_tenant_event", "tenant_id", "event_id", unique=True),
        Index("ix_audit_records_tenant_run", "tenant_id", "run_id", "seq"),
        Index("ix_audit_records_tenant_time", "tenant_id", "occurred_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True))
    tenant_id: str = Field(max_length=255)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_id: str = Field(max_length=255)
    run_id: str | None = Field(default=None, max_length=255)
    step_id: str | None = Field(default=None, max_length=128)
    action: str = Field(max_length=128)
    resource_type: str = Field(max_length=64)
    outcome: str = Field(max_length=16)
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ChainHead(AuditTable, table=True):
    """A tenant's last seq and hash; its row lock serialises appends to that chain."""

    __tablename__ = "audit_chain_heads"

    tenant_id: str = Field(primary_key=True, max_length=255)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


class AuditCheckpoint(AuditTable, table=True):
    """An Ed25519 signature over (tenant, seq, head hash, as_of); append-only."""

    __tablename__ = "audit_checkpoints"

    tenant_id: str = Field(primary_key=True, max_length=255)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True))
    hash: str = Field(max_length=64)
    key_id: str = Field(max_length=32)
    signature: str = Field(max_length=128)
    as_of: str = Field(max_length=64)
    signed_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
