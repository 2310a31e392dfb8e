"""A deliberately non-idempotent side effect, to prove the inbox applies each event once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope

__all__ = [
    "EFFECT_MIGRATIONS",
    "Effect",
    "EffectTable",
    "count_effects",
    "effects_by_event",
    "record_effect",
]

# The test table's Alembic branch ("agentbus_testing"), as a service would ship its own.
EFFECT_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class EffectTable(SQLModel, registry=registry()):
    """Base of the test tables: their own metadata, like a service's."""


class Effect(EffectTable, table=True):
    """One row per application of a handler; no unique key, so duplicates would show."""

    __tablename__ = "agentbus_test_effects"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=255)
    event_id: str = Field(max_length=255, index=True)
    label: str = Field(default="", max_length=255)


async def record_effect(envelope: Envelope[Any], uow: UnitOfWork) -> None:
    """Handler that inserts one Effect row for the event."""
    label = str(getattr(envelope.data, "task_id", ""))
    uow.session.add(Effect(tenant_id=uow.tenant_id, event_id=envelope.id, label=label))


async def count_effects(session: AsyncSession) -> int:
    """Total rows."""
    result = await session.exec(select(func.count()).select_from(Effect))
    return int(result.one())


async def effects_by_event(session: AsyncSession) -> dict[str, int]:
    """How many times each event id was applied."""
    result = await session.exec(
        select(Effect.event_id, func.count()).group_by(col(Effect.event_id))
    )
    return {event_id: int(n) for event_id, n in result.all()}
