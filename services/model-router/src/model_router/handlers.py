"""The Kafka side: model.requests in, model.responses (and usage, audit) out, in three phases."""

from __future__ import annotations

from typing import Any

from agentbus.bus import IoContext
from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope, new_envelope
from contracts.events.model import FinishReason, ModelOutcome, ModelRequested, ModelResponded
from contracts.types import ErrorInfo, TokenUsage

from .calls import CallResult, CallSpec, Prepared
from .domain import CallOutcome, ChatRequest, Message
from .service import RouterService, cached_completion

__all__ = ["CallModel", "spec_from_event"]

REPLY_TOPIC = "model.responses"
_OUTCOMES = {
    CallOutcome.OK: ModelOutcome.OK,
    CallOutcome.CACHED: ModelOutcome.OK,
    CallOutcome.BUDGET_EXCEEDED: ModelOutcome.BUDGET_EXCEEDED,
    CallOutcome.RATE_LIMITED: ModelOutcome.RATE_LIMITED,
    CallOutcome.FAILED: ModelOutcome.ERROR,
}


def spec_from_event(envelope: Envelope[Any]) -> CallSpec:
    """The call a ModelRequested envelope asks for; its event id is the request id."""
    data: ModelRequested = envelope.data
    parameters = data.parameters
    request = ChatRequest(
        messages=tuple(Message(m.role.value, m.content, m.name) for m in data.messages),
        temperature=parameters.temperature,
        top_p=parameters.top_p,
        max_tokens=parameters.max_tokens,
        stop=tuple(parameters.stop),
        response_format=parameters.response_format.value,
        json_schema=parameters.json_schema,
    )
    return CallSpec(
        tenant_id=envelope.tenantid,
        request_id=envelope.id,
        alias=data.alias,
        request=request,
        allow_cache=data.budget.allow_cache,
        max_cost_usd=data.budget.max_cost_usd,
        max_latency_ms=data.budget.max_latency_ms,
        step=data.step,
        run_id=envelope.runid,
    )


class CallModel:
    """IoHandler[Prepared, CallResult] for model.requests."""

    def __init__(
        self,
        service: RouterService,
        *,
        source: str = "model-router",
        reply_topic: str = REPLY_TOPIC,
    ) -> None:
        self.service = service
        self.source = source
        self.reply_topic = reply_topic

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> Prepared:
        """Cache look-up, budget hold, rate claim: one short transaction, safe to repeat."""
        return await self.service.prepare(spec_from_event(envelope), uow)

    async def perform(self, prepared: Prepared, ctx: IoContext) -> CallResult:
        """Provider calls with the router's own retries and fallbacks; never raises them."""
        return await self.service.perform(prepared)

    async def record(self, envelope: Envelope[Any], result: CallResult, uow: UnitOfWork) -> None:
        """Ledger, cache, settled hold, and the reply, usage and audit events."""
        await self.service.record(result, uow)
        uow.publish(
            new_envelope(
                responded(result),
                source=self.source,
                tenant_id=envelope.tenantid,
                run_id=envelope.runid,
                event_id=f"{envelope.id}:response",
            ),
            topic=self.reply_topic,
        )


def responded(result: CallResult) -> ModelResponded:
    """The ModelResponded reply of a call."""
    spec = result.prepared.spec
    assert spec.step is not None
    usage = result.usage
    common: dict[str, Any] = {
        "step": spec.step,
        "request_id": spec.request_id,
        "alias": spec.alias,
        "usage": TokenUsage(
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
        ),
        "cost_usd": result.cost_usd,
        "latency_ms": int(result.latency_s * 1000),
        "cached": result.prepared.cached is not None,
        "outcome": _OUTCOMES[result.outcome],
    }
    completion = None
    if result.outcome is CallOutcome.CACHED:
        completion = cached_completion(result.prepared.cached or {})
        common["provider"] = (result.prepared.cached or {}).get("provider")
    elif result.outcome is CallOutcome.OK and result.routed is not None:
        completion = result.routed.completion
        common["provider"] = result.routed.deployment.provider
    if completion is not None:
        return ModelResponded(
            **common,
            model=completion.model,
            content=completion.content,
            finish_reason=_finish(completion.finish_reason),
        )
    error = result.error
    assert error is not None
    if result.routed is not None:
        common["provider"] = result.routed.deployment.provider
        common["model"] = result.routed.completion.model
    return ModelResponded(
        **common,
        error=ErrorInfo(
            code=error.code, message=error.message, retryable=error.retryable, details=error.details
        ),
    )


def _finish(reason: str) -> FinishReason:
    try:
        return FinishReason(reason)
    except ValueError:
        return FinishReason.STOP
