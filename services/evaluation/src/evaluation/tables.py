"""The evaluation service's tables, on its own metadata."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, Numeric
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from agentbus.storage.tables import utcnow

__all__ = [
    "AlertStateRow",
    "CaseRow",
    "DatasetRow",
    "DeadLetterRow",
    "EvaluationRow",
    "OpsRunRow",
    "OverrideRow",
    "SpendRow",
    "UsageRow",
    "evaluation_metadata",
]

evaluation_metadata = MetaData()


class _Table(SQLModel, registry=registry(metadata=evaluation_metadata)):
    pass


def _json() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


def _when(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


def _usd() -> Any:
    return Field(default=Decimal(0), sa_column=Column(Numeric(18, 8), nullable=False))


class DatasetRow(_Table, table=True):
    """One version of a workflow's dataset: cases and thresholds as stored JSON."""

    __tablename__ = "evaluation_datasets"

    tenant_id: str = Field(primary_key=True, max_length=255)
    workflow: str = Field(primary_key=True, max_length=128)
    name: str = Field(primary_key=True, max_length=128)
    version: int = Field(primary_key=True)
    content_hash: str = Field(max_length=71, index=True)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=256)
    created_at: datetime = _when()


class EvaluationRow(_Table, table=True):
    """One evaluation of a workflow version on a dataset version."""

    __tablename__ = "evaluation_runs"

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=255, index=True)
    workflow: str = Field(max_length=128)
    version: str = Field(max_length=64)
    workflow_hash: str | None = Field(default=None, max_length=71)
    dataset: str = Field(max_length=128)
    dataset_version: int
    dataset_hash: str = Field(max_length=71)
    cases: int
    status: str = Field(default="running", max_length=16)
    passed: bool | None = None
    breaches: list[str] | None = _json()
    requested_by: str = Field(max_length=256)
    created_at: datetime = _when()
    completed_at: datetime | None = _when(nullable=True)


class CaseRow(_Table, table=True):
    """One case of one evaluation: its run, score, latency, tokens and cost."""

    __tablename__ = "evaluation_cases"

    evaluation_id: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(primary_key=True, max_length=128)
    tenant_id: str = Field(max_length=255)
    task_id: str = Field(max_length=256, unique=True)
    run_id: str | None = Field(default=None, max_length=256, index=True)
    tags: list[str] | None = _json()
    status: str = Field(default="pending", max_length=16)
    score: float | None = None
    latency_ms: int | None = None
    judge_tokens: int = 0
    judge_cost_usd: Decimal = _usd()
    scores: list[dict[str, Any]] | None = _json()
    output: Any = _json()
    error: str | None = Field(default=None, max_length=2000)
    finished_at: datetime | None = _when(nullable=True)


class UsageRow(_Table, table=True):
    """Model spend of one call of a run (from usage.records), for cost and tokens per run."""

    __tablename__ = "evaluation_usage"

    event_id: str = Field(primary_key=True, max_length=256)
    tenant_id: str = Field(max_length=255)
    run_id: str = Field(max_length=256, index=True)
    tokens: int
    cost_usd: Decimal = _usd()


class SpendRow(_Table, table=True):
    """One metered model call of a tenant (any, with or without a run), for budget alerts."""

    __tablename__ = "evaluation_spend"

    event_id: str = Field(primary_key=True, max_length=256)
    tenant_id: str = Field(max_length=255, index=True)
    day: str = Field(max_length=10, index=True, description="YYYY-MM-DD (UTC) it counts on")
    tokens: int
    cost_usd: Decimal = _usd()


class DeadLetterRow(_Table, table=True):
    """One record on a `<topic>.dlq` topic, attributed by its headers to a tenant and run."""

    __tablename__ = "evaluation_dead_letters"

    topic: str = Field(primary_key=True, max_length=255)
    partition: int = Field(primary_key=True)
    offset: int = Field(primary_key=True)
    tenant_id: str = Field(max_length=255, index=True)
    run_id: str | None = Field(default=None, max_length=256, index=True)
    workflow: str | None = Field(default=None, max_length=128)
    version: str | None = Field(default=None, max_length=64)
    original_topic: str = Field(max_length=255)
    event_type: str | None = Field(default=None, max_length=255)
    error_class: str = Field(max_length=255)
    failed_at: datetime = _when()


class OverrideRow(_Table, table=True):
    """An administrator's override of the gate for one exact content hash."""

    __tablename__ = "evaluation_overrides"

    tenant_id: str = Field(primary_key=True, max_length=255)
    workflow: str = Field(primary_key=True, max_length=128)
    version: str = Field(primary_key=True, max_length=64)
    content_hash: str = Field(primary_key=True, max_length=71)
    reason: str = Field(max_length=2000)
    actor: str = Field(max_length=256)
    created_at: datetime = _when()


class OpsRunRow(_Table, table=True):
    """A run as AgentOps sees it (from runs.events); evaluation runs are flagged."""

    __tablename__ = "evaluation_ops_runs"

    run_id: str = Field(primary_key=True, max_length=256)
    tenant_id: str = Field(max_length=255, index=True)
    task_id: str = Field(max_length=256)
    workflow: str = Field(max_length=128)
    version: str = Field(max_length=64)
    evaluation: bool = False
    status: str = Field(default="running", max_length=16)
    error_code: str | None = Field(default=None, max_length=128)
    duration_ms: int | None = None
    feedback: str | None = Field(default=None, max_length=16)
    started_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)


class AlertStateRow(_Table, table=True):
    """Whether an alert rule is firing for a tenant (it fires once until it recovers)."""

    __tablename__ = "evaluation_alert_state"

    tenant_id: str = Field(primary_key=True, max_length=255)
    rule: str = Field(primary_key=True, max_length=128)
    firing: bool = False
    value: float | None = None
    changed_at: datetime = _when()
    period: str | None = Field(
        default=None, max_length=10, description="budget rules: the period of the last change"
    )
