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
from ..types import Actor, Identifier, Name, StepRef

__all__ = ["ApprovalCancelRequested", "ApprovalDecided", "ApprovalOutcome", "ApprovalRequested"]


class ApprovalOutcome(StrEnum):
    """Final result of an approval request."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


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


@event("agentbus.approval.cancel_requested.v1")
class ApprovalCancelRequested(Event):
    """The planner withdraws a pending approval request (its run was cancelled or moved on).

    The approval service answers with `approval.decided.v1`, outcome `cancelled`, unless
    the request was already final; then the earlier outcome stands.
    """

    step: StepRef = Field(description="The step whose approval is withdrawn")
    request_id: Identifier = Field(description="ce_id of the approval request to cancel")
    reason: str = Field(min_length=1, max_length=1000, description="Why, shown to approvers")
