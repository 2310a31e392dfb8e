"""Approval events: human-in-the-loop decisions on a step.

Escalation is not an outcome: when a deadline passes and escalation roles are
configured, the approval service widens the approver set and extends the wait
(and audits it); the planner only ever sees a final outcome.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from ..base import Event
from ..registry import event
from ..types import Actor, ContentHash, Identifier, Name, StepRef

__all__ = [
    "ApprovalCancelRequested",
    "ApprovalDeadlineReached",
    "ApprovalDecided",
    "ApprovalOutcome",
    "ApprovalRequested",
    "ExpiryAction",
    "TimerKind",
]


class ApprovalOutcome(StrEnum):
    """Final result of an approval request."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ExpiryAction(StrEnum):
    """What a passed deadline does to a pending request."""

    REJECT = "reject"
    ESCALATE = "escalate"
    APPROVE = "approve"


class TimerKind(StrEnum):
    """Which approval timer fired."""

    WARNING = "warning"
    DEADLINE = "deadline"


@event("agentbus.approval.requested.v1")
class ApprovalRequested(Event):
    """The planner asks humans to approve a step before the run continues."""

    step: StepRef = Field(description="Run, step and attempt waiting for approval")
    subject: str = Field(min_length=1, max_length=500, description="One-line summary for approvers")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Masked context shown to approvers"
    )
    required_approvals: int = Field(default=1, ge=1, description="Distinct approvals needed")
    roles: list[Name] = Field(
        default_factory=list, description="Roles allowed to approve; empty allows any approver"
    )
    escalation_roles: list[Name] = Field(
        default_factory=list, description="Roles added when the deadline passes; empty expires"
    )
    deadline: AwareDatetime = Field(description="When the request expires or escalates")
    requested_by: Actor = Field(description="Whose task this is; never allowed to approve it")
    payload: dict[str, Any] | None = Field(
        default=None, description="The exact action to approve, masked where a guardrail masked it"
    )
    payload_sha256: ContentHash | None = Field(
        default=None,
        description="Hash of the raw payload; default: sha256 of the canonical JSON of payload",
    )
    rejections_needed: int = Field(
        default=1, ge=1, description="Distinct rejections that reject; 1 means one veto"
    )
    on_expiry: ExpiryAction | None = Field(
        default=None,
        description="reject, escalate or approve; null: escalate if escalation_roles, else reject",
    )
    escalation_deadline: AwareDatetime | None = Field(
        default=None, description="Deadline after escalating; null: the first wait again"
    )


@event("agentbus.approval.decided.v1")
class ApprovalDecided(Event):
    """The final outcome of an approval request."""

    step: StepRef = Field(description="Echoed from the request")
    request_id: Identifier = Field(description="ce_id of the approval request answered")
    approval_id: Identifier = Field(description="The approval service's id for the request")
    outcome: ApprovalOutcome = Field(description="approved, rejected, expired or cancelled")
    decided_by: list[Actor] = Field(
        default_factory=list, description="Approvers who decided; empty when expired or cancelled"
    )
    reason: str | None = Field(default=None, description="Approvers' comment or expiry note")
    decided_at: AwareDatetime = Field(description="When the outcome became final")
    payload_sha256: ContentHash | None = Field(
        default=None, description="The payload hash the outcome applies to; execute only that"
    )


@event("agentbus.approval.cancel_requested.v1")
class ApprovalCancelRequested(Event):
    """The planner withdraws a pending approval request (its run was cancelled or moved on).

    The approval service answers with `approval.decided.v1`, outcome `cancelled`, unless
    the request was already final; then the earlier outcome stands.
    """

    step: StepRef = Field(description="The step whose approval is withdrawn")
    request_id: Identifier = Field(description="ce_id of the approval request to cancel")
    reason: str = Field(min_length=1, max_length=1000, description="Why, shown to approvers")


@event("agentbus.approval.deadline_reached.v1")
class ApprovalDeadlineReached(Event):
    """A durable timer of the approval service fired (it schedules and consumes these)."""

    approval_id: Identifier = Field(description="The approval service's id for the request")
    step: StepRef = Field(description="Echoed from the request")
    kind: TimerKind = Field(description="warning (notify approvers) or deadline (expire/escalate)")
    level: int = Field(ge=0, description="Escalation level the timer was set for; stale if changed")
    deadline: AwareDatetime = Field(description="The deadline the timer was set for")
