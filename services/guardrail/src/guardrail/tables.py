"""The guardrail's one table: the per-tenant token vault, on its own metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, MetaData
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from agentbus.storage.tables import utcnow

__all__ = ["GuardrailTable", "VaultRow", "guardrail_metadata"]


class GuardrailTable(SQLModel, registry=registry()):
    """Base of the guardrail tables: their own metadata, never the global one."""


guardrail_metadata: MetaData = GuardrailTable.metadata


def _bytes() -> Any:
    return Field(sa_column=Column(LargeBinary, nullable=False))


class VaultRow(GuardrailTable, table=True):
    """A reversible token and its value, encrypted under the tenant's key."""

    __tablename__ = "guardrail_vault"

    tenant_id: str = Field(primary_key=True, max_length=255)
    token: str = Field(primary_key=True, max_length=128)
    entity: str = Field(max_length=64)
    nonce: bytes = _bytes()
    ciphertext: bytes = _bytes()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
