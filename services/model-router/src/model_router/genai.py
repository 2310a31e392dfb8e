"""OpenTelemetry GenAI semantic conventions: gen_ai.* span attributes and client metrics."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from .breaker import BreakerState
from .calls import CallResult, CallSpec
from .config import DeploymentConfig
from .domain import ProviderError

__all__ = ["GenAiTelemetry", "mask"]

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_DIGITS = re.compile(r"\d[\d -]{3,}\d")
_SECRET = re.compile(r"\b(?:sk|pk|abk|key|tok)[-_][A-Za-z0-9_-]{8,}|\b[A-Za-z0-9+/_-]{32,}\b")


def mask(text: str, limit: int = 1000) -> str:
    """Text with e-mail addresses, digit runs and key-like strings masked, cut to `limit`."""
    text = _SECRET.sub("<secret>", text)
    text = _EMAIL.sub("<email>", text)
    return _DIGITS.sub("<number>", text)[:limit]


class GenAiTelemetry:
    """Spans and metrics for model calls."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.tracer = trace.get_tracer("model_router", tracer_provider=tracer_provider)
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("model_router")
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="tokens per call"
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="model call duration"
        )
        self.cost = meter.create_counter(
            "agentbus.router.cost", unit="USD", description="money charged, per tenant and model"
        )
        self.retries = meter.create_counter(
            "agentbus.router.retries", unit="{retry}", description="provider call retries"
        )
        self._meter = meter

    def watch_breakers(self, states: Callable[[], dict[str, BreakerState]]) -> None:
        """Expose breaker states (0 closed, 1 half-open, 2 open) as a gauge."""

        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            for deployment, state in states().items():
                yield Observation(int(state), {"agentbus.deployment": deployment})

        self._meter.create_observable_gauge(
            "agentbus.router.circuit_breaker.state",
            callbacks=[observe],
            description="0 closed, 1 half-open, 2 open, per deployment",
        )

    def retried(self, deployment: DeploymentConfig, error: ProviderError) -> None:
        """Count one retry."""
        self.retries.add(1, {"agentbus.deployment": deployment.id, "error.type": error.kind.value})

    @contextmanager
    def call(self, spec: CallSpec, *, record_content: bool) -> Iterator[Span]:
        """A CLIENT span named `chat {alias}` around one routed call, current inside."""
        span = self.start_call(spec, record_content=record_content)
        with trace.use_span(span, end_on_exit=True):
            yield span

    def start_call(self, spec: CallSpec, *, record_content: bool) -> Span:
        """The call's span, started but not current: a stream makes it current per step
        (a context attached before a `yield` would be detached in another task's context)."""
        request = spec.request
        attributes: dict[str, str | float | int | bool] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": spec.alias,
            "agentbus.tenant_id": spec.tenant_id,
            "agentbus.request_id": spec.request_id,
        }
        if request.temperature is not None:
            attributes["gen_ai.request.temperature"] = request.temperature
        if request.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = request.max_tokens
        if record_content:
            last = request.messages[-1].content if request.messages else ""
            attributes["gen_ai.input.messages"] = mask(last)
        return self.tracer.start_span(
            f"chat {spec.alias}", kind=SpanKind.CLIENT, attributes=attributes
        )

    def finish(self, span: Span, result: CallResult, *, record_content: bool) -> None:
        """Stamp the outcome on the span and record the metrics."""
        routed = result.routed
        cached = result.prepared.cached
        provider = routed.deployment.provider if routed else (cached or {}).get("provider")
        model = routed.completion.model if routed else (cached or {}).get("model")
        common: dict[str, str] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": result.prepared.spec.alias,
            "agentbus.tenant_id": result.prepared.spec.tenant_id,
        }
        if provider:
            common["gen_ai.provider.name"] = str(provider)
        if model:
            common["gen_ai.response.model"] = str(model)
        span.set_attributes(common)
        span.set_attribute("agentbus.outcome", result.outcome.value)
        span.set_attribute("agentbus.cache_hit", cached is not None)
        span.set_attribute("agentbus.cost_usd", str(result.cost_usd))
        if routed is not None:
            usage = routed.completion.usage
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            span.set_attribute("gen_ai.response.finish_reasons", [routed.completion.finish_reason])
            span.set_attribute("agentbus.usage.estimated", usage.estimated)
            if record_content:
                span.set_attribute("gen_ai.output.messages", mask(routed.completion.content))
            self.tokens.record(usage.prompt_tokens, {**common, "gen_ai.token.type": "input"})
            self.tokens.record(usage.completion_tokens, {**common, "gen_ai.token.type": "output"})
            self.cost.add(float(result.cost_usd), common)
        duration_attributes = dict(common)
        if result.error is not None:
            span.set_attribute("error.type", result.error.code)
            span.set_status(Status(StatusCode.ERROR, result.error.code))
            duration_attributes["error.type"] = result.error.code
        self.duration.record(result.latency_s, duration_attributes)
