"""HTTP server spans and request metrics: FastAPI's native OpenTelemetry, configured once here."""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from .principal import Principal

__all__ = [
    "UNTRACED_PATHS",
    "FixedMeterProvider",
    "FixedTracerProvider",
    "mark_tenant",
    "telemetry_config",
]

# Probes and scrapes: frequent, meaningless to a run, they would drown the real traces.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def telemetry_config(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    *,
    untraced_paths: Collection[str] = UNTRACED_PATHS,
) -> TelemetryConfig:
    """`FastAPI(telemetry=...)`: one SERVER span and one duration per request but probes.

    No provider means the global one (FastAPI stays off until one is set). Operation
    spans are off so the server span is the current span inside a route: what a route
    publishes is its direct child. FastAPI's OTel log records are off (they carry
    exception messages; the service's JSON log has the error inside the span instead).
    Nothing is configured from the environment.
    """
    skipped = frozenset(untraced_paths)

    def untraced(scope: MutableMapping[str, Any]) -> bool:
        return scope.get("path") in skipped

    return {
        "tracer_provider": tracer_provider,
        "meter_provider": meter_provider,
        "tracing": True,
        "metrics": True,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        "exclude": untraced,
    }


def mark_tenant(principal: Principal) -> None:
    """Name the authenticated tenant on the request's server span."""
    trace.get_current_span().set_attribute("agentbus.tenant_id", principal.tenant_id)


class FixedTracerProvider(TracerProvider):
    """Hands out one tracer: lets HTTP spans go through the bus's tracer (and its provider)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def get_tracer(self, *_args: Any, **_kwargs: Any) -> Tracer:
        """The one tracer, whatever the instrumentation asks for."""
        return self.tracer


class FixedMeterProvider(MeterProvider):
    """Hands out one meter: lets HTTP metrics go through the bus's meter (and its provider)."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def get_meter(self, *_args: Any, **_kwargs: Any) -> Meter:
        """The one meter, whatever the instrumentation asks for."""
        return self.meter
