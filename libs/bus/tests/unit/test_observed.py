"""The context a record is processed in: its consumer span and its ids in the logs."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentbus.bus import InboundRecord
from agentbus.bus.observed import observe
from agentbus.telemetry import log_context

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


@pytest.fixture
def tracer() -> tuple[trace.Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def record() -> InboundRecord:
    headers = [
        ("ce_id", b"e-1"),
        ("ce_type", b"agentbus.task.submitted.v1"),
        ("ce_tenantid", b"acme"),
        ("ce_runid", b"run-1"),
        ("ce_traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01".encode()),
    ]
    return InboundRecord("task.events", 2, 41, b"k", b"{}", headers)


def test_inside_the_block_the_span_is_current_and_the_ids_are_in_the_logs(tracer) -> None:
    tracer_, exporter = tracer
    before = log_context()
    with observe(tracer_, "planner", record()) as span:
        assert trace.get_current_span() is span
        assert log_context() == {
            **before,
            "tenant_id": "acme",
            "run_id": "run-1",
            "event_id": "e-1",
        }
    assert trace.get_current_span() is not span
    assert log_context() == before
    [done] = exporter.get_finished_spans()
    assert done.name == "task.events process"
    assert done.kind is SpanKind.CONSUMER
    assert f"{done.context.trace_id:032x}" == TRACE_ID
    assert done.parent is not None
    assert f"{done.parent.span_id:016x}" == PARENT_ID
    assert done.attributes is not None
    assert done.attributes["messaging.kafka.offset"] == 41
    assert done.attributes["messaging.consumer.group.name"] == "planner"
    assert done.attributes["agentbus.event_type"] == "agentbus.task.submitted.v1"
    assert done.status.status_code is StatusCode.UNSET


def test_an_error_is_recorded_on_the_span_and_still_raised(tracer) -> None:
    tracer_, exporter = tracer
    before = log_context()
    with pytest.raises(ValueError, match="no such step"), observe(tracer_, "g", record()):
        raise ValueError("no such step")
    assert log_context() == before
    [done] = exporter.get_finished_spans()
    assert done.status.status_code is StatusCode.ERROR
    assert done.status.description == "ValueError: no such step"
    assert [event.name for event in done.events] == ["exception"]


def test_a_cancellation_ends_the_span_without_calling_it_an_error(tracer) -> None:
    tracer_, exporter = tracer
    with pytest.raises(asyncio.CancelledError), observe(tracer_, "g", record()):
        raise asyncio.CancelledError
    [done] = exporter.get_finished_spans()
    assert done.status.status_code is StatusCode.UNSET
    assert done.events == ()
