"""Envelopes the approval service emits: decisions, timers, audit records, webhook bodies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from contracts.audit import record
from contracts.envelope import Envelope, new_envelope
from contracts.events.approval import (
    ApprovalDeadlineReached,
    ApprovalDecided,
    ApprovalOutcome,
    TimerKind,
)
from contracts.events.audit import ApprovalUse, AuditRecorded
from contracts.types import Actor, ActorKind, StepRef

from .domain import Status
from .tables import ApprovalRow

__all__ = ["SERVICE", "audit", "deadline_timer", "decided", "step_of", "user", "webhook_body"]

SERVICE = "approval"
_OUTCOMES = {
    Status.APPROVED: ApprovalOutcome.APPROVED,
    Status.REJECTED: ApprovalOutcome.REJECTED,
    Status.EXPIRED: ApprovalOutcome.EXPIRED,
    Status.CANCELLED: ApprovalOutcome.CANCELLED,
}


def user(subject: str) -> Actor:
    """The actor for a person."""
    return Actor(kind=ActorKind.USER, id=subject)


def step_of(row: ApprovalRow) -> StepRef:
    """The step a request belongs to."""
    return StepRef(run_id=row.run_id, step_id=row.step_id, attempt=row.attempt)


def decided(
    row: ApprovalRow, status: Status, *, deciders: list[str], reason: str | None, at: datetime
) -> Envelope[ApprovalDecided]:
    """The one decision event of a request; its id is fixed so it can exist only once."""
    data = ApprovalDecided(
        step=step_of(row),
        request_id=row.request_id,
        approval_id=row.id,
        outcome=_OUTCOMES[status],
        decided_by=[user(s) for s in deciders],
        reason=reason,
        decided_at=at,
        payload_sha256=row.payload_sha256,
    )
    return new_envelope(
        data,
        source=SERVICE,
        tenant_id=row.tenant_id,
        run_id=row.run_id,
        event_id=f"{row.id}:decided",
        traceparent=row.traceparent,
        time=at,
    )


def deadline_timer(
    row: ApprovalRow, kind: TimerKind, *, level: int, deadline: datetime
) -> Envelope[ApprovalDeadlineReached]:
    """The envelope a deadline (or warning) timer fires."""
    data = ApprovalDeadlineReached(
        approval_id=row.id, step=step_of(row), kind=kind, level=level, deadline=deadline
    )
    return new_envelope(
        data,
        source=SERVICE,
        tenant_id=row.tenant_id,
        run_id=row.run_id,
        event_id=f"{row.id}:timer:{kind.value}:{level}",
        traceparent=row.traceparent,
    )


def audit(
    row: ApprovalRow,
    action: str,
    *,
    actor: Actor,
    event_id: str,
    outcome: str = "succeeded",
    status: Status | None = None,
    approvers: list[str] | None = None,
    details: dict[str, Any] | None = None,
    error_code: str | None = None,
) -> Envelope[AuditRecorded]:
    """An audit record about request `row`, naming the person who acted."""
    final = _OUTCOMES.get(status) if status is not None else None
    return record(
        source=SERVICE,
        tenant_id=row.tenant_id,
        actor=actor,
        action=action,
        resource_type="approval",
        resource_id=row.id,
        outcome=outcome,
        step=step_of(row),
        traceparent=row.traceparent,
        event_id=event_id,
        on_behalf_of=Actor(kind=ActorKind(row.requested_by_kind), id=row.requested_by),
        approval=ApprovalUse(
            outcome=final, approval_id=row.id, approvers=[user(a) for a in approvers or []]
        ),
        details={"request_id": row.request_id, "payload_sha256": row.payload_sha256}
        | (details or {}),
        error_code=error_code,
    )


def webhook_body(row: ApprovalRow, kind: str, *, event_id: str, at: datetime) -> bytes:
    """A notification: what happened to which request; no payload (it may hold PII)."""
    body = {
        "id": event_id,
        "type": kind,
        "tenant": row.tenant_id,
        "approval_id": row.id,
        "run_id": row.run_id,
        "step_id": row.step_id,
        "subject": row.subject,
        "status": row.status,
        "level": row.level,
        "roles": sorted(set(row.roles) | (set(row.escalation_roles) if row.level else set())),
        "deadline": row.deadline.isoformat(),
        "payload_sha256": row.payload_sha256,
        "occurred_at": at.isoformat(),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
