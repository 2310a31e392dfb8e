"""gen_ai.* spans and metrics; prompt text only when the tenant opts in, and then masked."""

from __future__ import annotations

from model_router.calls import CallSpec, Prepared
from model_router.genai import GenAiTelemetry, mask
from model_router.service import CallSettings, RouterService
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ..conftest import chat, local_config, make_router

SECRET_PROMPT = "mail bob@example.com card 4111 1111 1111 1111 key sk-abcdefghijklmnop"


def build(**tenants):
    spans = InMemorySpanExporter()
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = GenAiTelemetry(tracer, MeterProvider(metric_readers=[reader]))
    router = make_router(local_config(**tenants))
    telemetry.watch_breakers(lambda: router.breakers.states(0))
    return RouterService(router, CallSettings(), telemetry), spans, reader


async def call(service, tenant):
    spec = CallSpec(tenant, f"r-{tenant}", "fast", chat(SECRET_PROMPT, temperature=0))
    plan = service.router.plan(tenant, "fast", spec.request)
    return await service.perform(Prepared(spec, plan))


async def test_span_and_metrics_follow_the_genai_conventions():
    service, spans, reader = build()
    result = await call(service, "t1")
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes)
    assert span.name == "chat fast"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "local"
    assert attributes["gen_ai.request.model"] == "fast"
    assert attributes["gen_ai.response.model"] == "local-a"
    assert attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert attributes["agentbus.tenant_id"] == "t1"
    assert attributes["agentbus.cache_hit"] is False
    assert attributes["agentbus.cost_usd"] == str(result.cost_usd)
    assert not any("messages" in key for key in attributes)
    names = {
        metric.name
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "agentbus.router.cost",
        "agentbus.router.circuit_breaker.state",
    } <= names


async def test_content_is_recorded_masked_only_when_the_tenant_says_so():
    service, spans, _ = build(t1={"record_content": True})
    await call(service, "t1")
    (span,) = spans.get_finished_spans()
    recorded = span.attributes["gen_ai.input.messages"]
    assert "bob@example.com" not in recorded
    assert "4111" not in recorded
    assert "sk-abcdefghijklmnop" not in recorded
    assert recorded == mask(SECRET_PROMPT)
    assert "<email>" in recorded


async def test_a_streamed_call_has_one_span_that_ends_with_its_usage():
    service, spans, _ = build()
    spec = CallSpec("t1", "r-stream", "fast", chat("stream this", temperature=0))
    plan = service.router.plan("t1", "fast", spec.request)
    events = [event async for event in service.stream(Prepared(spec, plan))]
    result = events[-1]
    (span,) = spans.get_finished_spans()
    assert span.name == "chat fast"
    assert span.attributes["gen_ai.usage.output_tokens"] == result.usage.completion_tokens
    assert span.attributes["agentbus.outcome"] == "ok"
    assert len(events) > 2  # the stream's own events came before the result


async def test_a_stream_abandoned_by_its_reader_still_ends_its_span():
    service, spans, _ = build()
    spec = CallSpec("t1", "r-gone", "fast", chat("stream this", temperature=0))
    plan = service.router.plan("t1", "fast", spec.request)
    stream = service.stream(Prepared(spec, plan))
    await anext(stream)
    await stream.aclose()  # the HTTP client disconnected
    (span,) = spans.get_finished_spans()
    assert span.name == "chat fast"
