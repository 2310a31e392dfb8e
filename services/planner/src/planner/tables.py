"""The planner's tables, on its own metadata (created by its Alembic revisions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, MetaData, Text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = [
    "DefinitionRow",
    "DraftJobRow",
    "PlannerTable",
    "RunRow",
    "TaskRow",
    "planner_metadata",
    "utcnow",
]


def utcnow() -> datetime:
    """Timezone-aware now."""
    return datetime.now(UTC)


def _when() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class PlannerTable(SQLModel, registry=registry()):
    """Base of the planner's tables: their own metadata, never the global one."""


planner_metadata: MetaData = PlannerTable.metadata


class DefinitionRow(PlannerTable, table=True):
    """One version of one workflow definition of one tenant, with its review state."""

    __tablename__ = "planner_definitions"

    tenant_id: str = Field(primary_key=True, max_length=255)
    name: str = Field(primary_key=True, max_length=128)
    version: str = Field(primary_key=True, max_length=64)
    content_hash: str = Field(max_length=80)
    status: str = Field(max_length=32, index=True)
    author: str = Field(max_length=255)
    reviewer: str | None = Field(default=None, max_length=255)
    origin: str = Field(default="manual", max_length=32)
    source: str = Field(sa_column=Column(Text, nullable=False))
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = _when()
    updated_at: datetime = _when()


class RunRow(PlannerTable, table=True):
    """A run: its pinned definition, status and the state machine's JSON state."""

    __tablename__ = "planner_runs"
    # Listings go newest first, optionally by status or workflow: each walks one index.
    __table_args__ = (
        Index("ix_planner_runs_tenant_created", "tenant_id", "created_at"),
        Index("ix_planner_runs_tenant_status_created", "tenant_id", "status", "created_at"),
        Index(
            "ix_planner_runs_tenant_workflow_created", "tenant_id", "workflow_name", "created_at"
        ),
    )

    run_id: str = Field(primary_key=True, max_length=255)
    tenant_id: str = Field(max_length=255)
    task_id: str = Field(max_length=255)
    workflow_name: str = Field(max_length=128)
    workflow_version: str = Field(max_length=64)
    content_hash: str = Field(max_length=80)
    status: str = Field(max_length=32)
    parent_run_id: str | None = Field(default=None, max_length=255)
    state: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    revision: int = 0  # optimistic concurrency: a write must see the revision it read
    created_at: datetime = _when()
    updated_at: datetime = _when()


class TaskRow(PlannerTable, table=True):
    """A submitted task; its id is the idempotency key (one run per task per tenant)."""

    __tablename__ = "planner_tasks"

    tenant_id: str = Field(primary_key=True, max_length=255)
    task_id: str = Field(primary_key=True, max_length=255)
    run_id: str | None = Field(default=None, max_length=255)
    outcome: str = Field(max_length=32)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _when()


class DraftJobRow(PlannerTable, table=True):
    """A definition being drafted from a goal by a model, with its repair attempts."""

    __tablename__ = "planner_draft_jobs"

    job_id: str = Field(primary_key=True, max_length=255)
    tenant_id: str = Field(max_length=255, index=True)
    goal: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(max_length=128)
    version: str = Field(max_length=64)
    author: str = Field(max_length=255)
    status: str = Field(max_length=32)
    attempt: int = 1
    errors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _when()
    updated_at: datetime = _when()
