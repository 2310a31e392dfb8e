"""Every event contract of agentbus, one module per domain."""

from __future__ import annotations

from .approval import ApprovalDecided, ApprovalOutcome, ApprovalRequested
from .audit import AuditOutcome, AuditRecorded
from .guardrail import Decision, Direction, Finding, GuardrailCheckRequested, GuardrailVerdict
from .model import (
    BudgetHints,
    FinishReason,
    ModelParameters,
    ModelRequested,
    ModelResponded,
    ResponseFormat,
)
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
from .task import Priority, TaskCompleted, TaskFailed, TaskSubmitted
from .tool import ToolCompleted, ToolRequested, ToolStatus
from .usage import UsageRecorded

__all__ = [
    "ApprovalDecided",
    "ApprovalOutcome",
    "ApprovalRequested",
    "AuditOutcome",
    "AuditRecorded",
    "BudgetHints",
    "Decision",
    "Direction",
    "Finding",
    "FinishReason",
    "GuardrailCheckRequested",
    "GuardrailVerdict",
    "ModelParameters",
    "ModelRequested",
    "ModelResponded",
    "Priority",
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
    "TaskCompleted",
    "TaskFailed",
    "TaskSubmitted",
    "ToolCompleted",
    "ToolRequested",
    "ToolStatus",
    "UsageRecorded",
]
