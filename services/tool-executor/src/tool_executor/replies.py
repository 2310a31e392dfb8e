"""The events one handled request produces: its ToolCompleted reply and its audit record."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from contracts.audit import digest, record, service_actor
from contracts.envelope import Envelope, new_envelope
from contracts.events.audit import AuditOutcome, ToolUse
from contracts.events.tool import ToolCompleted, ToolRequested, ToolStatus, arguments_sha256
from contracts.types import ErrorInfo

from .domain import canonical_json

if TYPE_CHECKING:
    from .executor import CallOutcome
    from .handlers import Plan

__all__ = ["completed_envelopes"]

# Refusals that are the caller's mistake, not a policy decision.
_FAILED_REFUSALS = {"tool.invalid_arguments"}


def completed_envelopes(
    request_envelope: Envelope[Any],
    plan: Plan,
    outcome: CallOutcome | None,
    *,
    service: str,
) -> list[Envelope[Any]]:
    """ToolCompleted and AuditRecorded with ids derived from the request (stable on replay)."""
    request: ToolRequested = plan.request
    status, result, error, duration, attempts = _result(plan, outcome)
    definition = plan.definition
    version = definition.version if definition is not None else None
    reply = new_envelope(
        ToolCompleted(
            step=request.step,
            request_id=request_envelope.id,
            tool=request.tool,
            version=version,
            status=status,
            result=result,
            error=error,
            duration_ms=duration,
        ),
        source=service,
        tenant_id=request_envelope.tenantid,
        run_id=request_envelope.runid or request.step.run_id,
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{request_envelope.id}/tool.completed")),
    )
    details: dict[str, Any] = {
        "decision": "denied" if status is ToolStatus.DENIED else "allowed",
        "arguments_sha256": arguments_sha256(dict(request.arguments)),
        "argument_names": sorted(request.arguments),
        "duration_ms": duration,
        "attempts": attempts,
        "replayed": plan.replay,
        "idempotency_key": request.idempotency_key,
    }
    if definition is not None:
        details["side_effect"] = definition.side_effect.value
    if request.evaluation is not None:
        details["evaluation_id"] = request.evaluation.evaluation_id
    if error is not None:
        details["error_message"] = error.message
    extra: dict[str, Any] = {}
    if status is ToolStatus.SUCCEEDED:
        extra["output"] = digest(canonical_json(result))
    audit = record(
        source=service,
        tenant_id=request_envelope.tenantid,
        actor=service_actor(service),
        action="tool.invoke",
        resource_type="tool",
        resource_id=request.tool,
        outcome=AuditOutcome(status.value),
        step=request.step,
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{request_envelope.id}/audit")),
        tool=ToolUse(name=request.tool, version=version),
        on_behalf_of=request.on_behalf_of,
        error_code=error.code if error is not None else None,
        details=details,
        **extra,
    )
    return [reply, audit]


def _result(
    plan: Plan, outcome: CallOutcome | None
) -> tuple[ToolStatus, Any, ErrorInfo | None, int, int]:
    if plan.denial is not None:
        status = ToolStatus.FAILED if plan.denial.code in _FAILED_REFUSALS else ToolStatus.DENIED
        error = ErrorInfo(
            code=plan.denial.code, message=plan.denial.message, details=plan.denial.details
        )
        return status, None, error, 0, 0
    if outcome is None:  # a stored result replayed for a repeated idempotency key
        return ToolStatus.SUCCEEDED, plan.stored, None, plan.stored_duration_ms, 0
    if outcome.error is None:
        return ToolStatus.SUCCEEDED, outcome.result, None, outcome.duration_ms, outcome.attempts
    failure = outcome.error
    error = ErrorInfo(
        code=failure.code,
        message=failure.message,
        retryable=failure.retryable,
        details={"attempts": outcome.attempts, **failure.details},
    )
    status = ToolStatus.DENIED if failure.denied else ToolStatus.FAILED
    return status, None, error, outcome.duration_ms, outcome.attempts
