"""HTTP server spans on a real uvicorn server: W3C continuation, route templates, errors."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import APIRouter, Depends
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentbus.http import (
    CurrentPrincipal,
    HttpSettings,
    create_http_app,
    current_principal,
    not_found,
)
from agentbus.http.authenticator import Authenticator
from agentbus.http.testing import serving
from agentbus.telemetry import JsonFormatter, current_traceparent

KEY = "k-acme"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@dataclass
class Traced:
    client: httpx.AsyncClient
    exporter: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def server_spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.kind is SpanKind.SERVER]

    def only_span(self) -> ReadableSpan:
        spans = self.server_spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]


@pytest.fixture
async def traced() -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    settings = HttpSettings(api_keys=[{"key": KEY, "tenant": "acme", "subject": "alice"}])
    app = create_http_app(
        title="spans",
        version="1",
        authenticator=Authenticator.from_settings(settings),
        readiness_checks={},
        tracer_provider=provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])

    @router.get("/orders/{order_id}")
    async def get_order(order_id: str, principal: CurrentPrincipal) -> dict[str, str | None]:
        # What an envelope published here would carry (the bus stamps the current trace).
        return {"order": order_id, "traceparent": current_traceparent()}

    @router.get("/missing/{thing_id}")
    async def missing(thing_id: str) -> None:
        raise not_found("thing", thing_id)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("postgresql://app:hunter2@db/app refused")

    app.include_router(router)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield Traced(client, exporter, reader)


async def test_a_request_continues_the_callers_trace_with_the_route_template(
    traced: Traced,
) -> None:
    response = await traced.client.get(
        "/v1/orders/o-123?expand=lines",
        headers={"X-API-Key": KEY, "traceparent": TRACEPARENT},
    )
    assert response.status_code == 200
    span = traced.only_span()
    assert span.name == "GET /v1/orders/{order_id}"
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None
    assert span.parent.is_remote
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.path": "/v1/orders/o-123",
        "url.query": "expand=lines",
        "url.scheme": "http",
        "server.address": "127.0.0.1",
        "server.port": int(str(traced.client.base_url.port)),
        "network.protocol.version": "1.1",
        "http.route": "/v1/orders/{order_id}",
        "http.response.status_code": 200,
        "agentbus.tenant_id": "acme",
    }
    assert span.status.status_code is StatusCode.UNSET
    # Inside the route the server span is current: what the route publishes joins it.
    inner = response.json()["traceparent"]
    assert inner == f"00-{TRACE_ID}-{format(span.context.span_id, '016x')}-01"


@pytest.mark.parametrize("header", [None, "00-not-a-trace-01", f"00-{'0' * 32}-{PARENT_ID}-01"])
async def test_without_a_valid_traceparent_a_request_starts_a_new_trace(
    traced: Traced, header: str | None
) -> None:
    headers = {"X-API-Key": KEY} | ({"traceparent": header} if header else {})
    response = await traced.client.get("/v1/orders/o-1", headers=headers)
    assert response.status_code == 200
    span = traced.only_span()
    assert span.parent is None
    assert format(span.context.trace_id, "032x") != TRACE_ID


async def test_probes_and_metrics_make_no_span(traced: Traced) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        await traced.client.get(path, headers={"traceparent": TRACEPARENT})
    assert traced.server_spans() == []
    await traced.client.get("/openapi.json")
    assert [s.name for s in traced.server_spans()] == ["GET /openapi.json"]


async def test_client_errors_are_not_span_errors_and_unmatched_paths_have_no_route(
    traced: Traced,
) -> None:
    unauthenticated = await traced.client.get("/v1/orders/o-1")
    assert unauthenticated.status_code == 401
    not_there = await traced.client.get("/v1/missing/t-9", headers={"X-API-Key": KEY})
    assert not_there.status_code == 404
    unknown = await traced.client.get("/nowhere/42")
    assert unknown.status_code == 404
    first, second, third = traced.server_spans()
    assert first.name == "GET /v1/orders/{order_id}"
    assert (first.attributes or {})["http.response.status_code"] == 401
    assert "agentbus.tenant_id" not in (first.attributes or {})
    assert (second.attributes or {})["http.route"] == "/v1/missing/{thing_id}"
    assert (second.attributes or {})["agentbus.tenant_id"] == "acme"
    # No route matched: the span is named by the method alone, never by the raw path.
    assert third.name == "GET"
    assert "http.route" not in (third.attributes or {})
    assert (third.attributes or {})["url.path"] == "/nowhere/42"
    for span in (first, second, third):
        assert span.status.status_code is StatusCode.UNSET
        assert "error.type" not in (span.attributes or {})


async def test_an_unexpected_error_is_a_500_span_error_without_its_message(
    traced: Traced,
) -> None:
    lines: list[str] = []
    handler = logging.Handler()
    formatter = JsonFormatter("spans")
    handler.emit = lambda record: lines.append(formatter.format(record))  # type: ignore[method-assign]
    logger = logging.getLogger("agentbus.http")
    logger.addHandler(handler)
    try:
        response = await traced.client.get(
            "/v1/boom", headers={"X-API-Key": KEY, "traceparent": TRACEPARENT}
        )
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 500
    assert response.json()["code"] == "internal"
    span = traced.only_span()
    assert span.name == "GET /v1/boom"
    assert (span.attributes or {})["http.response.status_code"] == 500
    assert (span.attributes or {})["error.type"] == "RuntimeError"
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()  # no exception event: its message could carry a secret
    recorded = json.dumps(
        [
            dict(span.attributes or {}),
            span.status.description,
            [dict(e.attributes or {}) for e in span.events],
        ]
    )
    assert "hunter2" not in recorded
    # The error log line is written inside the request's span (it names its trace).
    logged = [json.loads(line) for line in lines if "unhandled error" in line]
    assert len(logged) == 1
    assert logged[0]["trace_id"] == TRACE_ID
    assert logged[0]["span_id"] == format(span.context.span_id, "016x")


async def test_request_durations_are_recorded_by_route_and_status(traced: Traced) -> None:
    for order in ("a", "b"):
        await traced.client.get(f"/v1/orders/{order}", headers={"X-API-Key": KEY})
    await traced.client.get("/healthz")
    data = traced.metrics.get_metrics_data()
    assert data is not None
    points = [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "http.server.request.duration"
        for point in metric.data.data_points
    ]
    assert len(points) == 1
    assert dict(points[0].attributes or {}) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "http.route": "/v1/orders/{order_id}",
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert points[0].count == 2
