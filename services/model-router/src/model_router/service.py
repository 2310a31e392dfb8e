"""The three phases of a routed call, shared by the Kafka consumer and the HTTP API."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from agentbus.storage import UnitOfWork, UnitOfWorkFactory

from .calls import CallError, CallResult, CallSpec, Prepared, error_for, nanos
from .config import RoutingConfig
from .domain import (
    CallOutcome,
    Completion,
    Usage,
    budget_periods,
    cache_key,
    estimate_prompt_tokens,
    is_deterministic,
    rate_window,
)
from .genai import GenAiTelemetry
from .ledger import publish_records
from .router import Routed, Router, RoutingFailedError, StreamFailed, UnknownAliasError
from .store import (
    BudgetRepository,
    CacheRepository,
    CallRepository,
    RateRepository,
    stale_holds,
)

__all__ = ["HTTP_PREFIX", "CallSettings", "RouterService"]

HTTP_PREFIX = "http-"  # request ids of HTTP calls; Kafka ones are event ids


@dataclass(frozen=True, slots=True)
class CallSettings:
    """Per-call limits the service applies."""

    default_max_tokens: int = 1024
    cache_ttl_s: float = 300.0
    cache_only_deterministic: bool = True
    rate_window_s: int = 60


class RouterService:
    """prepare (short transaction), perform (no transaction), record (short transaction)."""

    def __init__(
        self,
        router: Router,
        settings: CallSettings,
        telemetry: GenAiTelemetry,
        *,
        source: str = "model-router",
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.router = router
        self.settings = settings
        self.telemetry = telemetry
        self.source = source
        self.now = wall_clock

    @property
    def config(self) -> RoutingConfig:
        """The routing configuration in force."""
        return self.router.config

    async def prepare(self, spec: CallSpec, uow: UnitOfWork) -> Prepared:
        """Cache look-up, budget hold and rate-limit claim; safe to run again for a request."""
        now = self.now()
        day, month = budget_periods(now)
        try:
            hint = spec.max_latency_ms / 1000 if spec.max_latency_ms is not None else None
            plan = self.router.plan(spec.tenant_id, spec.alias, spec.request, max_latency_s=hint)
        except UnknownAliasError as exc:
            error = CallError("model.unknown_alias", str(exc))
            return Prepared(spec, None, CallOutcome.FAILED, error, day=day, month=month)
        key = None
        if spec.allow_cache and (
            is_deterministic(spec.request) or not self.settings.cache_only_deterministic
        ):
            key = cache_key(spec.tenant_id, plan.alias, spec.request)
            hit = await CacheRepository(uow).lookup(key, now)
            if hit is not None:
                return Prepared(spec, plan, CallOutcome.CACHED, cached=hit, day=day, month=month)
        prompt = estimate_prompt_tokens(spec.request)
        cap = spec.request.max_tokens or self.settings.default_max_tokens
        estimate = plan.max_price().bound(prompt, cap)
        base = Prepared(spec, plan, cache_key=key, day=day, month=month)
        if spec.max_cost_usd is not None and estimate > spec.max_cost_usd:
            message = f"estimated cost {estimate} exceeds the request's max_cost_usd"
            return _decided(base, CallOutcome.BUDGET_EXCEEDED, "budget.max_cost", message)
        tenant = self.config.tenant(spec.tenant_id)
        budget = BudgetRepository(uow)
        hold = await budget.reserve(
            spec.request_id,
            usd_nanos=nanos(estimate),
            tokens=prompt + cap,
            day=day,
            month=month,
            limits=tenant.budget,
        )
        if hold.finished:
            message = f"request {spec.request_id!r} was already answered"
            return _decided(base, CallOutcome.FAILED, "request.duplicate", message)
        if not hold.ok:
            message = f"the tenant's {hold.exceeded or ''} budget cannot cover this call".strip()
            return _decided(base, CallOutcome.BUDGET_EXCEEDED, "budget.exceeded", message)
        window = rate_window(now.timestamp(), self.settings.rate_window_s)
        # A re-run of prepare for the same request reuses its hold and does not count twice.
        if hold.new and not await RateRepository(uow).claim(
            window, tokens=prompt + cap, limits=tenant.rate_limit
        ):
            await budget.settle(spec.request_id, usd_nanos=0, tokens=0, state="released")
            retry_after = window + self.settings.rate_window_s - now.timestamp()
            return _decided(
                base,
                CallOutcome.RATE_LIMITED,
                "model.rate_limited",
                "the tenant's rate limit is reached",
                retryable=True,
                details={"retry_after_s": round(max(retry_after, 0.0), 3)},
            )
        return base

    async def perform(self, prepared: Prepared) -> CallResult:
        """Call the providers (no transaction open); never raises a provider failure."""
        started = time.monotonic()
        spec = prepared.spec
        record_content = self.config.tenant(spec.tenant_id).record_content
        with self.telemetry.call(spec, record_content=record_content) as span:
            if prepared.outcome is not None or prepared.plan is None:
                result = CallResult(
                    prepared, prepared.outcome or CallOutcome.FAILED, 0.0, error=prepared.error
                )
            else:
                try:
                    routed = await self.router.complete(prepared.plan, spec.request)
                    result = CallResult(
                        prepared, CallOutcome.OK, time.monotonic() - started, routed
                    )
                except RoutingFailedError as exc:
                    latency = time.monotonic() - started
                    result = CallResult(prepared, CallOutcome.FAILED, latency, error=error_for(exc))
            self.telemetry.finish(span, result, record_content=record_content)
        return result

    async def stream(self, prepared: Prepared) -> AsyncGenerator[Any, None]:
        """Router stream events; the last is the CallResult to record."""
        started = time.monotonic()
        spec = prepared.spec
        assert prepared.plan is not None
        record_content = self.config.tenant(spec.tenant_id).record_content
        span = self.telemetry.start_call(spec, record_content=record_content)
        current = trace.set_span_in_context(span)
        events = self.router.stream(prepared.plan, spec.request)
        result: CallResult
        try:
            while True:
                # The span is current while the router works, never across a `yield`: the
                # response may pull the next event from another task (another Context).
                token = otel_context.attach(current)
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    raise RoutingFailedError([]) from None  # ended without a result
                finally:
                    otel_context.detach(token)
                if isinstance(event, Routed):
                    result = CallResult(prepared, CallOutcome.OK, time.monotonic() - started, event)
                    break
                if isinstance(event, StreamFailed):
                    error = CallError(
                        "model.stream_interrupted",
                        f"the stream from {event.deployment.id} broke: {event.error.message}",
                        retryable=True,
                    )
                    result = CallResult(
                        prepared,
                        CallOutcome.FAILED,
                        time.monotonic() - started,
                        event.partial,
                        error=error,
                    )
                    break
                yield event
        except RoutingFailedError as exc:
            latency = time.monotonic() - started
            result = CallResult(prepared, CallOutcome.FAILED, latency, error=error_for(exc))
        except BaseException as exc:  # the client went away, or a bug: the span still ends
            if isinstance(exc, Exception):
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        self.telemetry.finish(span, result, record_content=record_content)
        span.end()
        yield result

    async def release_stale_http_holds(self, uows: UnitOfWorkFactory, older_than_s: float) -> int:
        """Release holds of HTTP calls whose process died mid-call (never redelivered)."""
        before = self.now() - timedelta(seconds=older_than_s)
        async with uows.sessions() as session:
            stale = await stale_holds(session, prefix=HTTP_PREFIX, before=before)
        for tenant, request_id in stale:
            async with uows(tenant) as uow:
                await BudgetRepository(uow).settle(
                    request_id, usd_nanos=0, tokens=0, state="released"
                )
                await uow.commit()
        return len(stale)

    async def record(self, result: CallResult, uow: UnitOfWork) -> bool:
        """Settle the hold, fill the cache, write the ledger row and the outbox events."""
        prepared = result.prepared
        spec = prepared.spec
        usage = result.usage
        if prepared.outcome not in (CallOutcome.BUDGET_EXCEEDED, CallOutcome.CACHED):
            state = "settled" if result.routed is not None else "released"
            await BudgetRepository(uow).settle(
                spec.request_id,
                usd_nanos=nanos(result.cost_usd),
                tokens=usage.total_tokens,
                state=state,
            )
        routed = result.routed
        if routed is not None and result.outcome is CallOutcome.OK and prepared.cache_key:
            expires = self.now() + timedelta(seconds=self.settings.cache_ttl_s)
            await CacheRepository(uow).store(prepared.cache_key, _cache_payload(routed), expires)
        fresh = await CallRepository(uow).save(_call_row(result))
        if fresh:
            record_content = self.config.tenant(spec.tenant_id).record_content
            publish_records(uow, result, source=self.source, record_content=record_content)
        return fresh


def _decided(
    base: Prepared,
    outcome: CallOutcome,
    code: str,
    message: str,
    *,
    retryable: bool = False,
    details: dict[str, Any] | None = None,
) -> Prepared:
    error = CallError(code, message, retryable, details or {})
    return Prepared(base.spec, base.plan, outcome, error, day=base.day, month=base.month)


def _cache_payload(routed: Routed) -> dict[str, Any]:
    completion = routed.completion
    return {
        "content": completion.content,
        "finish_reason": completion.finish_reason,
        "model": completion.model,
        "provider": routed.deployment.provider,
        "deployment": routed.deployment.id,
    }


def cached_completion(payload: dict[str, Any]) -> Completion:
    """The Completion a cache hit answers with: no tokens billed."""
    return Completion(
        str(payload["content"]), str(payload["finish_reason"]), str(payload["model"]), Usage(0, 0)
    )


def _call_row(result: CallResult) -> dict[str, Any]:
    prepared = result.prepared
    routed = result.routed
    cached = prepared.cached or {}
    usage = result.usage
    return {
        "request_id": prepared.spec.request_id,
        "alias": prepared.spec.alias,
        "outcome": result.outcome.value,
        "provider": routed.deployment.provider if routed else cached.get("provider"),
        "model": routed.completion.model if routed else cached.get("model"),
        "deployment_id": routed.deployment.id if routed else cached.get("deployment"),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "usage_estimated": usage.estimated,
        "cost_usd": str(result.cost_usd),
        "cached": prepared.cached is not None,
        "error_code": result.error.code if result.error else None,
    }
