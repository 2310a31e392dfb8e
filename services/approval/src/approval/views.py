"""Rows to domain values and to API views."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from .domain import ExpiryRule, Policy
from .tables import ApprovalRow, DelegationRow, VoteRow

__all__ = ["ApprovalView", "DelegationView", "VoteView", "policy_of", "view_of"]


def policy_of(row: ApprovalRow) -> Policy:
    """The policy stored with a request."""
    return Policy(
        required_approvals=row.required_approvals,
        rejections_needed=row.rejections_needed,
        roles=frozenset(row.roles),
        escalation_roles=frozenset(row.escalation_roles),
        on_expiry=ExpiryRule(row.on_expiry),
        escalation_window=timedelta(seconds=row.escalation_window_s),
        escalation_deadline=row.escalation_deadline,
    )


class VoteView(BaseModel):
    """A vote as the API shows it."""

    voter: str
    choice: str
    comment: str | None
    on_behalf_of: str | None
    at: datetime


class DelegationView(BaseModel):
    """A delegation as the API shows it."""

    delegator: str
    delegate: str
    comment: str | None
    at: datetime


class ApprovalView(BaseModel):
    """An approval request as the API shows it."""

    id: str
    request_id: str
    status: str
    subject: str
    run_id: str
    step_id: str
    attempt: int
    requested_by: str
    required_approvals: int
    rejections_needed: int
    roles: list[str]
    escalation_roles: list[str]
    level: int
    on_expiry: str
    deadline: datetime
    created_at: datetime
    decided_at: datetime | None
    reason: str | None
    payload_sha256: str
    details: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    votes: list[VoteView] = []
    delegations: list[DelegationView] = []


def view_of(
    row: ApprovalRow,
    votes: list[VoteRow] | None = None,
    delegations: list[DelegationRow] | None = None,
    *,
    full: bool = False,
) -> ApprovalView:
    """The API view; `full` adds the payload, the context, votes and delegations."""
    return ApprovalView(
        id=row.id,
        request_id=row.request_id,
        status=row.status,
        subject=row.subject,
        run_id=row.run_id,
        step_id=row.step_id,
        attempt=row.attempt,
        requested_by=row.requested_by,
        required_approvals=row.required_approvals,
        rejections_needed=row.rejections_needed,
        roles=row.roles,
        escalation_roles=row.escalation_roles,
        level=row.level,
        on_expiry=row.on_expiry,
        deadline=row.deadline,
        created_at=row.created_at,
        decided_at=row.decided_at,
        reason=row.reason,
        payload_sha256=row.payload_sha256,
        details=row.details if full else None,
        payload=row.payload if full else None,
        votes=[
            VoteView(
                voter=v.voter,
                choice=v.choice,
                comment=v.comment,
                on_behalf_of=v.on_behalf_of,
                at=v.created_at,
            )
            for v in votes or []
        ],
        delegations=[
            DelegationView(
                delegator=d.delegator, delegate=d.delegate, comment=d.comment, at=d.created_at
            )
            for d in delegations or []
        ],
    )
