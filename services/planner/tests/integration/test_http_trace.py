"""One run is one trace from the HTTP request on: a task POSTed with a traceparent (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentbus.testing import eventually

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

TRACE_ID = "5e0c7f2b9a1d4c3e8f6a7b8c9d0e1f2a"
CALLER_SPAN = "a1b2c3d4e5f60718"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"

SUMMARY = """
name: traced-summary
version: 1.0.0
steps:
  - id: summarise
    type: llm
    prompt: "Summarise {{ t }}"
    inputs: {t: input.text}
"""


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


async def test_a_task_posted_with_a_traceparent_runs_in_that_trace(make_env: Any) -> None:
    env = await make_env(key="http-trace")
    [planner] = env.planners
    assert planner.telemetry is not None
    exporter = InMemorySpanExporter()
    planner.telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    await env.publish_definition(SUMMARY)
    async with env.client() as client:
        accepted = await client.post(
            "/v1/tasks",
            json={"task_id": "traced-1", "workflow": "traced-summary", "input": {"text": "x"}},
            headers={"traceparent": TRACEPARENT},
        )
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]

    async def run_started() -> bool:
        return any(e.runid == run_id for e in env.events("runs.events"))

    await eventually(run_started, what="the run's first event")
    spans = exporter.get_finished_spans()
    [server] = [s for s in spans if s.kind is SpanKind.SERVER and s.name == "POST /v1/tasks"]
    assert _hex(server.context.trace_id, 32) == TRACE_ID
    assert server.parent is not None
    assert _hex(server.parent.span_id, 16) == CALLER_SPAN
    assert (server.attributes or {})["agentbus.tenant_id"] == "acme"
    assert (server.attributes or {})["http.response.status_code"] == 202

    submitted = env.topic("tasks.submitted")
    consumers: list[ReadableSpan] = [
        s for s in spans if s.kind is SpanKind.CONSUMER and s.name == f"{submitted} process"
    ]
    assert [_hex(s.context.trace_id, 32) for s in consumers] == [TRACE_ID]
    [consumer] = consumers
    assert consumer.parent is not None
    assert consumer.parent.span_id == server.context.span_id, "the HTTP span is its parent"
    # What the run published next (its events, the model request) is in the same trace.
    events = [e for e in env.events("runs.events") if e.runid == run_id]
    assert {(e.traceparent or "").split("-")[1] for e in events} == {TRACE_ID}
    model_requests = env.topic("model.requests")

    async def model_requested_in_trace() -> bool:
        return any(
            s.kind is SpanKind.PRODUCER
            and s.name == f"{model_requests} publish"
            and _hex(s.context.trace_id, 32) == TRACE_ID
            for s in exporter.get_finished_spans()
        )

    await eventually(model_requested_in_trace, what="the model request's producer span")
