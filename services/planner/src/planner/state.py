"""A run's state, the events that drive it and the commands it emits (all plain data)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Event
from contracts.events.evaluation import EvaluationMarker
from contracts.types import Actor, ErrorInfo, StepRef, WorkflowRef

__all__ = [
    "CancelChild",
    "CancelRequested",
    "CancelTimer",
    "ChildFinished",
    "Command",
    "CompleteRun",
    "Emit",
    "FailRun",
    "Input",
    "Replied",
    "RunState",
    "RunStatus",
    "ScheduleTimer",
    "SendRequest",
    "StartChild",
    "Started",
    "StepState",
    "StepStatus",
    "TimerFired",
    "TimerKind",
]


class RunStatus(StrEnum):
    """Where a run is; the last three are final."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True once nothing can change the run."""
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(StrEnum):
    """Where a step (or one map item) is."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_RETRY = "waiting_retry"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True once the step will not run again."""
        return self not in (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.WAITING_RETRY)


class StepState(BaseModel):
    """One step's (or map item's) progress."""

    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    request_id: str | None = None
    output: Any = None
    error: ErrorInfo | None = None
    reason: str | None = None
    started_at: datetime | None = None
    attempt_started_at: datetime | None = None
    finished_at: datetime | None = None
    items: list[Any] | None = None  # a map step's list, kept so retries see the same items
    child_run_id: str | None = None


class RunState(BaseModel):
    """Everything the state machine needs to decide; stored as JSON with the run."""

    run_id: str
    tenant_id: str
    task_id: str
    workflow: WorkflowRef
    input: dict[str, Any] = Field(default_factory=dict)
    requested_by: Actor
    correlation_id: str | None = None
    evaluation: EvaluationMarker | None = None  # an evaluation run (tool requests carry it)
    parent: StepRef | None = None
    status: RunStatus = RunStatus.RUNNING
    steps: dict[str, StepState] = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    failed_step: str | None = None


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


# Inputs -------------------------------------------------------------------------------


class Started(_Data):
    """The run was created; schedule its first steps."""

    kind: Literal["started"] = "started"
    now: datetime


class Replied(_Data):
    """A service answered a step request (or the bus said the request was dead-lettered)."""

    kind: Literal["replied"] = "replied"
    now: datetime
    request_id: str
    step_key: str | None = None
    attempt: int | None = None
    output: Any = None
    error: ErrorInfo | None = None


class TimerKind(StrEnum):
    """Why a timer was set."""

    TIMEOUT = "timeout"
    RETRY = "retry"


class TimerFired(_Data):
    """A durable timer fired: an attempt timed out, or a retry is due."""

    kind: Literal["timer"] = "timer"
    now: datetime
    step_key: str
    attempt: int
    timer: TimerKind


class ChildFinished(_Data):
    """A sub-workflow run of a `workflow` step ended."""

    kind: Literal["child"] = "child"
    now: datetime
    step_key: str
    attempt: int
    child_run_id: str
    output: Any = None
    error: ErrorInfo | None = None


class CancelRequested(_Data):
    """Someone asked to cancel the run."""

    kind: Literal["cancel"] = "cancel"
    now: datetime
    reason: str
    by: Actor


Input = Started | Replied | TimerFired | ChildFinished | CancelRequested

# Commands -----------------------------------------------------------------------------


class SendRequest(_Data):
    """Publish a step request to its service's request topic."""

    step_key: str
    attempt: int
    request_id: str
    payload: Event


class ScheduleTimer(_Data):
    """Store a durable timer that fires once at `at`."""

    timer_id: str
    at: datetime
    step_key: str
    attempt: int
    timer: TimerKind


class CancelTimer(_Data):
    """Drop a timer that is no longer needed."""

    timer_id: str


class Emit(_Data):
    """Publish a run or step lifecycle event."""

    event: Event


class StartChild(_Data):
    """Start a sub-workflow run for a `workflow` step."""

    step_key: str
    attempt: int
    child_run_id: str
    workflow: str
    version: str | None
    input: dict[str, Any]


class CancelChild(_Data):
    """Cancel a sub-workflow run whose parent no longer needs it."""

    child_run_id: str
    reason: str


class CompleteRun(_Data):
    """The run succeeded with `output`."""

    output: dict[str, Any]


class FailRun(_Data):
    """The run failed or was cancelled."""

    error: ErrorInfo
    failed_step: str | None = None


Command = (
    SendRequest
    | ScheduleTimer
    | CancelTimer
    | Emit
    | StartChild
    | CancelChild
    | CompleteRun
    | FailRun
)
