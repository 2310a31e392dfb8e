"""Every event contract of agentbus, one module per domain."""

from __future__ import annotations

from .approval import (
    ApprovalCancelRequested,
    ApprovalDeadlineReached,
    ApprovalDecided,
    ApprovalOutcome,
    ApprovalRequested,
    ExpiryAction,
    TimerKind,
)
from .audit import AuditOutcome, AuditRecorded
from .evaluation import (
    AlertRaised,
    AlertResolved,
    EvaluationCaseScored,
    EvaluationCompleted,
    EvaluationMarker,
)
from .guardrail import Decision, Direction, Finding, GuardrailCheckRequested, GuardrailVerdict
from .model import (
    BudgetHints,
    FinishReason,
    ModelOutcome,
    ModelParameters,
    ModelRequested,
    ModelResponded,
    ResponseFormat,
)
from .request import DeadLetterRef, RequestFailed
from .run import (
    RunCancelled,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    StepCompleted,
    StepEvent,
    StepFailed,
    StepRetrying,
    StepScheduled,
    StepSkipped,
)
from .task import Priority, TaskCancelRequested, TaskCompleted, TaskFailed, TaskSubmitted
from .tool import ToolCompleted, ToolRequested, ToolStatus
from .usage import UsageRecorded
from .workflow import (
    WorkflowApproved,
    WorkflowDeprecated,
    WorkflowDrafted,
    WorkflowEvent,
    WorkflowPublished,
    WorkflowSubmitted,
)

__all__ = [
    "AlertRaised",
    "AlertResolved",
    "ApprovalCancelRequested",
    "ApprovalDeadlineReached",
    "ApprovalDecided",
    "ApprovalOutcome",
    "ApprovalRequested",
    "AuditOutcome",
    "AuditRecorded",
    "BudgetHints",
    "DeadLetterRef",
    "Decision",
    "Direction",
    "EvaluationCaseScored",
    "EvaluationCompleted",
    "EvaluationMarker",
    "ExpiryAction",
    "Finding",
    "FinishReason",
    "GuardrailCheckRequested",
    "GuardrailVerdict",
    "ModelOutcome",
    "ModelParameters",
    "ModelRequested",
    "ModelResponded",
    "Priority",
    "RequestFailed",
    "ResponseFormat",
    "RunCancelled",
    "RunCompleted",
    "RunEvent",
    "RunFailed",
    "RunStarted",
    "StepCompleted",
    "StepEvent",
    "StepFailed",
    "StepRetrying",
    "StepScheduled",
    "StepSkipped",
    "TaskCancelRequested",
    "TaskCompleted",
    "TaskFailed",
    "TaskSubmitted",
    "TimerKind",
    "ToolCompleted",
    "ToolRequested",
    "ToolStatus",
    "UsageRecorded",
    "WorkflowApproved",
    "WorkflowDeprecated",
    "WorkflowDrafted",
    "WorkflowEvent",
    "WorkflowPublished",
    "WorkflowSubmitted",
]
