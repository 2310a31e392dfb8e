"""JSON log lines carry tenant, run and trace ids."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from agentbus.telemetry import (
    JsonFormatter,
    bind_log_context,
    context_from_traceparent,
    current_traceparent,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def line(message: str) -> dict[str, object]:
    record = logging.LogRecord("agentbus.test", logging.INFO, __file__, 1, message, None, None)
    record.fields = {"offset": 3}
    return dict(json.loads(JsonFormatter("planner").format(record)))


def test_a_line_has_service_ids_and_the_current_trace():
    tracer = TracerProvider().get_tracer("test")
    with (
        bind_log_context(tenant_id="acme", run_id="run-1", step_id=None),
        tracer.start_as_current_span("step", context=context_from_traceparent(TRACEPARENT)),
    ):
        entry = line("step done")
        traceparent = current_traceparent()
    assert entry["service"] == "planner"
    assert entry["tenant_id"] == "acme"
    assert entry["run_id"] == "run-1"
    assert "step_id" not in entry
    assert entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["offset"] == 3
    assert traceparent is not None
    assert traceparent.split("-")[1] == entry["trace_id"]


def test_context_ends_with_its_block():
    with bind_log_context(tenant_id="acme"):
        pass
    assert "tenant_id" not in line("after")
