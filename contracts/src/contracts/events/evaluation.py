"""Evaluation events: the evaluation marker a run carries, case results, verdicts, alerts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, JsonValue

from ..base import Event
from ..registry import event
from ..types import ContentHash, Identifier, Millis, Name, ValueType, Version, WorkflowRef

__all__ = [
    "AlertRaised",
    "AlertResolved",
    "ApprovalFixture",
    "EvaluationCaseScored",
    "EvaluationCompleted",
    "EvaluationMarker",
]


class ApprovalFixture(ValueType):
    """How an approval step of an evaluation run is decided: declared, never asked of a human."""

    outcome: Literal["approved", "rejected", "expired"] = Field(
        description="The outcome the step receives, as if the approval service had decided"
    )
    decided_by: list[Name] = Field(
        default_factory=list, description="Approver ids the outcome names (no real approver)"
    )
    reason: str | None = Field(default=None, max_length=1000, description="Approvers' comment")


class EvaluationMarker(ValueType):
    """Marks a task (and its run's tool requests) as an evaluation, not production work.

    An evaluation run may run an approved, not yet published version; a `write` tool
    answers from `fixtures` (tool name -> result) or is refused, never called; an
    `approval` step is decided by `approvals` (step id -> outcome) or refused, never sent
    to the approval service; its figures are kept out of production metrics.
    """

    evaluation_id: Identifier = Field(description="The evaluation this run belongs to")
    case_id: Identifier = Field(description="The dataset case the run executes")
    fixtures: dict[str, JsonValue] = Field(
        default_factory=dict, description="Tool name -> the result a write tool answers with"
    )
    approvals: dict[str, ApprovalFixture] = Field(
        default_factory=dict,
        description="Approval step id -> its declared outcome; an approval step without one "
        "is refused (no approval request is ever created for an evaluation run)",
    )


@event("agentbus.evaluation.case_scored.v1")
class EvaluationCaseScored(Event):
    """One case of an evaluation finished and was scored."""

    evaluation_id: Identifier = Field(description="The evaluation")
    workflow: WorkflowRef = Field(description="The version evaluated")
    case_id: Identifier = Field(description="The dataset case")
    run_id: Identifier | None = Field(default=None, description="The run; null if none started")
    passed: bool = Field(description="Every check of the case passed")
    score: float = Field(ge=0, le=1, description="Mean score of the case's checks")
    latency_ms: Millis | None = Field(default=None, description="Run duration")
    error: str | None = Field(default=None, max_length=2000, description="Why the run failed")

    def partition_key(self) -> str | None:
        """The evaluation id: one evaluation's events stay ordered."""
        return self.evaluation_id


@event("agentbus.evaluation.completed.v1")
class EvaluationCompleted(Event):
    """Every case of an evaluation was scored; the verdict against its thresholds."""

    evaluation_id: Identifier = Field(description="The evaluation")
    workflow: WorkflowRef = Field(description="The version evaluated")
    dataset_hash: ContentHash = Field(description="Content hash of the dataset version used")
    passed: bool = Field(description="Every threshold was met")
    pass_rate: float = Field(ge=0, le=1, description="Share of cases that passed")
    breaches: list[str] = Field(
        default_factory=list, description="Each threshold missed, with the measured value"
    )

    def partition_key(self) -> str | None:
        """The evaluation id, like its case events."""
        return self.evaluation_id


@event("agentbus.alert.raised.v1")
class AlertRaised(Event):
    """An alert rule's threshold was crossed over its window (fires once until it recovers)."""

    rule: Name = Field(description="The alert rule")
    workflow: Name = Field(description="Workflow watched")
    version: Version | None = Field(default=None, description="Version watched; null: any")
    metric: Name = Field(description="error_rate, cost_per_run_usd, latency_p95_ms, ...")
    value: float = Field(description="Measured value over the window")
    threshold: float = Field(description="The rule's threshold")
    window_s: int = Field(ge=1, description="Window the value was measured over")
    details: dict[str, Any] = Field(default_factory=dict, description="Counts behind the value")

    def partition_key(self) -> str | None:
        """The rule: its raise and resolve events stay ordered."""
        return self.rule


@event("agentbus.alert.resolved.v1")
class AlertResolved(Event):
    """A raised alert's metric is back within its threshold."""

    rule: Name = Field(description="The alert rule")
    workflow: Name = Field(description="Workflow watched")
    version: Version | None = Field(default=None, description="Version watched; null: any")
    metric: Name = Field(description="The metric")
    value: float = Field(description="Measured value over the window")
    threshold: float = Field(description="The rule's threshold")

    def partition_key(self) -> str | None:
        """The rule, like its raise."""
        return self.rule
