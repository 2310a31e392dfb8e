"""HTTP request and response bodies of the planner API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agentbus.http import UtcDatetime
from contracts.types import ErrorInfo, Identifier, Name, Version, WorkflowRef

from .state import RunState, StepState
from .store import ListedRun
from .tables import DefinitionRow, DraftJobRow

__all__ = [
    "CancelBody",
    "DefinitionBody",
    "DefinitionView",
    "DraftBody",
    "DraftJobView",
    "RunSummary",
    "RunView",
    "StepView",
    "TaskAccepted",
    "TaskBody",
]


class TaskBody(BaseModel):
    """A task submitted over HTTP (the same fields as agentbus.task.submitted.v1)."""

    task_id: Identifier
    workflow: Name
    workflow_version: Version | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    correlation_id: Identifier | None = None


class TaskAccepted(BaseModel):
    """The task was queued; its run id is known in advance."""

    task_id: str
    run_id: str
    workflow: str
    workflow_version: str


class CancelBody(BaseModel):
    """Why a run is cancelled."""

    reason: str = Field(default="cancelled by API", min_length=1, max_length=1000)


class StepView(BaseModel):
    """One step (or map item) of a run."""

    id: str
    status: str
    attempt: int
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    duration_ms: int | None
    output: Any = None
    error: ErrorInfo | None = None
    reason: str | None = None

    @classmethod
    def of(cls, key: str, st: StepState) -> StepView:
        """The view of one step state."""
        duration = None
        if st.started_at and st.finished_at:
            duration = int((st.finished_at - st.started_at).total_seconds() * 1000)
        return cls(
            id=key,
            status=st.status.value,
            attempt=st.attempt,
            started_at=st.started_at,
            finished_at=st.finished_at,
            duration_ms=duration,
            output=st.output,
            error=st.error,
            reason=st.reason,
        )


class RunSummary(BaseModel):
    """A run in a listing."""

    run_id: str
    task_id: str
    status: str
    workflow: str
    version: str
    created_at: UtcDatetime

    @classmethod
    def of(cls, row: ListedRun) -> RunSummary:
        """The summary of a listed run."""
        return cls(
            run_id=row.run_id,
            task_id=row.task_id,
            status=row.status,
            workflow=row.workflow_name,
            version=row.workflow_version,
            created_at=row.created_at,
        )


class RunView(BaseModel):
    """A run in full: pinned definition, status, steps with timings and outputs."""

    run_id: str
    task_id: str
    status: str
    workflow: WorkflowRef
    parent_run_id: str | None
    input: dict[str, Any]
    output: dict[str, Any] | None
    error: ErrorInfo | None
    failed_step: str | None
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    steps: list[StepView]

    @classmethod
    def of(cls, state: RunState) -> RunView:
        """The view of a run state."""
        return cls(
            run_id=state.run_id,
            task_id=state.task_id,
            status=state.status.value,
            workflow=state.workflow,
            parent_run_id=state.parent.run_id if state.parent else None,
            input=state.input,
            output=state.output,
            error=state.error,
            failed_step=state.failed_step,
            started_at=state.started_at,
            finished_at=state.finished_at,
            steps=[StepView.of(k, st) for k, st in state.steps.items()],
        )


class DefinitionBody(BaseModel):
    """A definition's YAML source."""

    source: str = Field(min_length=1, max_length=1_000_000)


class DefinitionView(BaseModel):
    """A definition version and its review state."""

    name: str
    version: str
    content_hash: str
    status: str
    author: str
    reviewer: str | None
    origin: str
    updated_at: UtcDatetime
    definition: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: DefinitionRow, *, full: bool = False) -> DefinitionView:
        """The view of a definition row; `full` includes the definition itself."""
        return cls(
            name=row.name,
            version=row.version,
            content_hash=row.content_hash,
            status=row.status,
            author=row.author,
            reviewer=row.reviewer,
            origin=row.origin,
            updated_at=row.updated_at,
            definition=row.definition if full else None,
        )


class DraftBody(BaseModel):
    """Ask for a definition drafted from a goal."""

    goal: str = Field(min_length=1, max_length=4000)
    name: Name
    version: str = "0.1.0"


class DraftJobView(BaseModel):
    """A drafting job's progress."""

    job_id: str
    status: str
    name: str
    version: str
    attempt: int
    errors: list[str]

    @classmethod
    def of(cls, row: DraftJobRow) -> DraftJobView:
        """The view of a drafting job row."""
        return cls(
            job_id=row.job_id,
            status=row.status,
            name=row.name,
            version=row.version,
            attempt=row.attempt,
            errors=row.errors,
        )
