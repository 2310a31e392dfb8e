"""Outbox events every routed call leaves behind: a usage record and an audit record."""

from __future__ import annotations

from agentbus.storage import UnitOfWork
from contracts.audit import digest, record, service_actor
from contracts.envelope import new_envelope
from contracts.events.audit import AuditOutcome, ModelUse
from contracts.events.usage import UsageRecorded
from contracts.types import TokenUsage

from .calls import CallResult
from .domain import CallOutcome
from .genai import mask

__all__ = ["publish_records"]

_AUDIT_OUTCOME = {
    CallOutcome.OK: AuditOutcome.SUCCEEDED,
    CallOutcome.CACHED: AuditOutcome.SUCCEEDED,
    CallOutcome.BUDGET_EXCEEDED: AuditOutcome.DENIED,
    CallOutcome.RATE_LIMITED: AuditOutcome.DENIED,
    CallOutcome.FAILED: AuditOutcome.FAILED,
}


def publish_records(
    uow: UnitOfWork, result: CallResult, *, source: str, record_content: bool = False
) -> None:
    """Queue UsageRecorded (answered calls) and AuditRecorded (every call) in the outbox."""
    prepared = result.prepared
    spec = prepared.spec
    routed = result.routed
    cached = prepared.cached
    provider = routed.deployment.provider if routed else (cached or {}).get("provider")
    model = routed.completion.model if routed else (cached or {}).get("model")
    usage = result.usage
    tokens = TokenUsage(
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
    )
    run_id = spec.step.run_id if spec.step else spec.run_id
    if provider and model and (routed is not None or cached is not None):
        usage_event = UsageRecorded(
            step=spec.step,
            request_id=spec.request_id,
            alias=spec.alias,
            provider=str(provider),
            model=str(model),
            usage=tokens,
            cost_usd=result.cost_usd,
            cached=cached is not None,
            budget_period=prepared.day,
        )
        uow.publish(
            new_envelope(
                usage_event,
                source=source,
                tenant_id=spec.tenant_id,
                run_id=run_id,
                event_id=f"{spec.request_id}:usage",
            )
        )
    prompt_text = "\n".join(m.content for m in spec.request.messages)
    answer = routed.completion.content if routed else (cached or {}).get("content")
    uow.publish(
        record(
            source=source,
            tenant_id=spec.tenant_id,
            actor=service_actor(source),
            action="model.call",
            resource_type="model",
            resource_id=spec.alias,
            outcome=_AUDIT_OUTCOME[result.outcome],
            step=spec.step,
            run_id=run_id,
            event_id=f"{spec.request_id}:audit",
            model=ModelUse(
                provider=str(provider),
                model=str(model),
                alias=spec.alias,
                cached=cached is not None,
            )
            if provider and model
            else None,
            cost_usd=result.cost_usd,
            usage=tokens,
            # Hashes always, masked text only when the tenant opted in: never raw content.
            prompt=digest(prompt_text, masked=mask(prompt_text) if record_content else None),
            output=digest(answer, masked=mask(answer) if record_content else None)
            if answer
            else None,
            error_code=result.error.code if result.error else None,
            details={"outcome": result.outcome.value, "request_id": spec.request_id},
        )
    )
