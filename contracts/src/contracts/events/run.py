"""Run and step lifecycle events the planner publishes on runs.events.

One event type per transition rather than one `step_changed` event with a status
enum: each transition carries different required data (a failure has an error, a
retry has its next attempt and time, a completion has a duration), so separate
types let the JSON Schema require exactly that data instead of making every field
optional. A new transition is a new event type; consumers ignore types they don't
handle. All of them share one topic and key, so a run's history stays ordered.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from ..base import Event
from ..registry import event
from ..types import (
    Actor,
    ErrorInfo,
    Identifier,
    Millis,
    Name,
    StepKind,
    StepRef,
    Timings,
    WorkflowRef,
)

__all__ = [
    "RunCancelled",
    "RunCompleted",
    "RunEvent",
    "RunFailed",
    "RunStarted",
    "RunTimerFired",
    "StepCompleted",
    "StepEvent",
    "StepFailed",
    "StepRetrying",
    "StepScheduled",
    "StepSkipped",
    "TimerPurpose",
]


class RunEvent(Event):
    """Fields every run lifecycle event carries."""

    run_id: Identifier = Field(description="The run")
    task_id: Identifier = Field(description="The task that started the run")
    workflow: WorkflowRef = Field(description="Pinned definition: name@version and content hash")


class StepEvent(Event):
    """Fields every step lifecycle event carries."""

    step: StepRef = Field(description="Run, step and attempt")
    kind: StepKind = Field(description="guardrail, model, tool or approval")
    workflow: WorkflowRef = Field(description="Pinned definition: name@version and content hash")


@event("agentbus.run.started.v1")
class RunStarted(RunEvent):
    """The planner accepted a task and started a run."""


@event("agentbus.run.completed.v1")
class RunCompleted(RunEvent):
    """Every step finished; the run produced its output."""

    output: dict[str, Any] = Field(description="Workflow output")
    timings: Timings = Field(description="Run start, end and duration")


@event("agentbus.run.failed.v1")
class RunFailed(RunEvent):
    """The run stopped because a step failed for good or the run timed out."""

    error: ErrorInfo = Field(description="Why the run failed")
    failed_step: Name | None = Field(default=None, description="The step that failed, if any")
    timings: Timings = Field(description="Run start, end and duration")


@event("agentbus.run.cancelled.v1")
class RunCancelled(RunEvent):
    """The run was cancelled before it finished."""

    reason: str = Field(min_length=1, description="Why the run was cancelled")
    cancelled_by: Actor = Field(description="Who cancelled it")


@event("agentbus.run.step_scheduled.v1")
class StepScheduled(StepEvent):
    """The planner sent a step attempt's request to its service."""

    request_id: Identifier = Field(description="ce_id of the request event sent for the step")
    timeout_ms: Millis | None = Field(default=None, description="Attempt timeout, if any")


@event("agentbus.run.step_completed.v1")
class StepCompleted(StepEvent):
    """A step attempt succeeded."""

    duration_ms: Millis = Field(description="From scheduling to the reply")


@event("agentbus.run.step_failed.v1")
class StepFailed(StepEvent):
    """A step failed for good: permanent error or retries exhausted."""

    error: ErrorInfo = Field(description="Why the last attempt failed")
    duration_ms: Millis = Field(description="From scheduling to the failure")


@event("agentbus.run.step_retrying.v1")
class StepRetrying(StepEvent):
    """A step attempt failed transiently; another attempt is scheduled."""

    error: ErrorInfo = Field(description="Why this attempt failed")
    next_attempt: int = Field(ge=2, description="Number of the next attempt")
    retry_at: AwareDatetime = Field(description="When the next attempt is sent")


@event("agentbus.run.step_skipped.v1")
class StepSkipped(StepEvent):
    """A step will not run: its condition was false or a branch was not taken."""

    reason: str = Field(min_length=1, description="Why the step was skipped")


class TimerPurpose(StrEnum):
    """Why the planner set a durable timer."""

    TIMEOUT = "timeout"
    RETRY = "retry"


@event("agentbus.run.timer_fired.v1")
class RunTimerFired(Event):
    """A planner timer came due: a step attempt timed out, or its retry is due.

    The planner schedules it (with the state that needs it) and alone consumes it, on
    `runs.timers`; it is a contract so that a replica other than the one that set the
    timer, or a newer planner version, can read it.
    """

    step: StepRef = Field(description="Run, step and attempt the timer belongs to")
    purpose: TimerPurpose = Field(description="timeout or retry")
    due_at: AwareDatetime = Field(description="When the timer was due")
