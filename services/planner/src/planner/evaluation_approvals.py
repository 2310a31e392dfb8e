"""Approval steps of an evaluation run: decided by the dataset's fixture, never by a human.

An evaluation run must neither wait for an approver nor show production approvers a request
for a case that is not real work. So its `approval` step never reaches the approval
service: the case's declared outcome answers it (shaped exactly like the approval
service's answer), or the step is refused `approval.evaluation_refused`.
"""

from __future__ import annotations

from datetime import datetime

from contracts.audit import record, service_actor
from contracts.envelope import Envelope
from contracts.events.approval import ApprovalDecided, ApprovalOutcome, ApprovalRequested
from contracts.events.audit import AuditRecorded
from contracts.events.evaluation import EvaluationMarker
from contracts.types import Actor, ActorKind, ErrorInfo, WorkflowRef

from .replies import to_replied
from .state import Replied

__all__ = ["FIXTURE_APPROVAL_ID", "REFUSED", "fixture_audit", "fixture_reply"]

FIXTURE_APPROVAL_ID = "evaluation-fixture"
REFUSED = "approval.evaluation_refused"


def fixture_reply(
    request: ApprovalRequested, request_id: str, marker: EvaluationMarker, *, now: datetime
) -> Replied:
    """The step's answer: its declared outcome, or a refusal naming the missing fixture."""
    key = request.step.step_id
    fixture = marker.approvals.get(key) or marker.approvals.get(key.partition("/")[0])
    if fixture is None:
        return Replied(
            now=now,
            request_id=request_id,
            step_key=key,
            attempt=request.step.attempt,
            error=ErrorInfo(
                code=REFUSED,
                message=f"approval step {key!r} has no declared outcome in evaluation case "
                f"{marker.case_id!r} (add it to the case's approvals)",
                details={"evaluation_id": marker.evaluation_id},
            ),
        )
    decided = ApprovalDecided(
        step=request.step,
        request_id=request_id,
        approval_id=FIXTURE_APPROVAL_ID,
        outcome=ApprovalOutcome(fixture.outcome),
        decided_by=[Actor(kind=ActorKind.USER, id=who) for who in fixture.decided_by],
        reason=fixture.reason,
        decided_at=now,
    )
    return to_replied(decided, None, now=now)


def fixture_audit(
    request: ApprovalRequested,
    request_id: str,
    marker: EvaluationMarker,
    reply: Replied,
    *,
    tenant_id: str,
    workflow: WorkflowRef,
    traceparent: str | None,
) -> Envelope[AuditRecorded]:
    """The audit record of an approval answered (or refused) for an evaluation."""
    refused = reply.error is not None and reply.error.code == REFUSED
    key = request.step.step_id
    fixture = marker.approvals.get(key) or marker.approvals.get(key.partition("/")[0])
    return record(
        source="planner",
        tenant_id=tenant_id,
        actor=service_actor("planner"),
        action="approval.evaluation_fixture",
        resource_type="step",
        resource_id=f"{request.step.run_id}/{request.step.step_id}",
        outcome="failed" if refused else "succeeded",
        step=request.step,
        traceparent=traceparent,
        event_id=f"{request_id}:audit",
        workflow=workflow,
        error_code=REFUSED if refused else None,
        details={
            "evaluation_id": marker.evaluation_id,
            "case_id": marker.case_id,
            "declared_outcome": fixture.outcome if fixture is not None else None,
        },
    )
