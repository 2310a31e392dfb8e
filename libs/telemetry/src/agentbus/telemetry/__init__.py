"""Telemetry shared by agentbus services: OpenTelemetry set-up and JSON logs."""

from .logs import (
    JsonFormatter,
    bind_log_context,
    configure_logging,
    log_context,
    pop_log_context,
    push_log_context,
)
from .tracing import (
    Telemetry,
    TelemetrySettings,
    context_from_traceparent,
    current_trace_id,
    current_traceparent,
    setup_telemetry,
)

__all__ = [
    "JsonFormatter",
    "Telemetry",
    "TelemetrySettings",
    "bind_log_context",
    "configure_logging",
    "context_from_traceparent",
    "current_trace_id",
    "current_traceparent",
    "log_context",
    "pop_log_context",
    "push_log_context",
    "setup_telemetry",
]
