"""Task events: the boundary between upstream systems and agentbus."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from ..base import Event
from ..registry import event
from ..types import Actor, ErrorInfo, Identifier, Name, Timings, Version, WorkflowRef
from .evaluation import EvaluationMarker

__all__ = ["Priority", "TaskCancelRequested", "TaskCompleted", "TaskFailed", "TaskSubmitted"]


class Priority(StrEnum):
    """Scheduling priority of a task's run."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


@event("agentbus.task.submitted.v1")
class TaskSubmitted(Event):
    """An upstream system asks agentbus to run a workflow on some input."""

    task_id: Identifier = Field(description="Caller-chosen task id; also the Kafka key")
    workflow: Name = Field(description="Name of a published workflow")
    workflow_version: Version | None = Field(
        default=None, description="Version to run; null runs the latest published version"
    )
    input: dict[str, Any] = Field(default_factory=dict, description="Workflow input")
    priority: Priority = Field(default=Priority.NORMAL, description="low, normal or high")
    idempotency_key: Identifier | None = Field(
        default=None,
        description="Submissions with the same key (per tenant) start at most one run",
    )
    correlation_id: Identifier | None = Field(
        default=None, description="Upstream reference, echoed in tasks.completed/failed"
    )
    requested_by: Actor = Field(description="Who submitted the task (never its approver)")
    evaluation: EvaluationMarker | None = Field(
        default=None,
        description="Set by the evaluation service: an evaluation run, never production work",
    )


@event("agentbus.task.completed.v1")
class TaskCompleted(Event):
    """A task's run finished successfully."""

    task_id: Identifier = Field(description="The submitted task")
    run_id: Identifier = Field(description="The run that executed it")
    workflow: WorkflowRef = Field(description="The definition that executed")
    output: dict[str, Any] = Field(description="Workflow output")
    correlation_id: Identifier | None = Field(
        default=None, description="The submission's correlation_id, echoed"
    )
    timings: Timings = Field(description="Run start, end and duration")


@event("agentbus.task.failed.v1")
class TaskFailed(Event):
    """A task failed: its run failed or was cancelled, or no run could start."""

    task_id: Identifier = Field(description="The submitted task")
    run_id: Identifier | None = Field(
        default=None, description="The failed run; null when no run started (e.g. unknown workflow)"
    )
    error: ErrorInfo = Field(description="Why the task failed")
    failed_step: Name | None = Field(default=None, description="The step that failed, if any")
    correlation_id: Identifier | None = Field(
        default=None, description="The submission's correlation_id, echoed"
    )
    timings: Timings | None = Field(default=None, description="Run timings, when a run started")


@event("agentbus.task.cancel_requested.v1")
class TaskCancelRequested(Event):
    """Someone asks to cancel a task and its run; rides on tasks.submitted, keyed by task id."""

    task_id: Identifier = Field(description="The task to cancel; also the Kafka key")
    run_id: Identifier | None = Field(
        default=None, description="Its run, when the requester knows it"
    )
    reason: str = Field(min_length=1, max_length=1000, description="Why, for the audit trail")
    requested_by: Actor = Field(description="Who asked for the cancellation")

    def partition_key(self) -> str | None:
        """The task id even when a run id is known: the request follows the submission."""
        return self.task_id
