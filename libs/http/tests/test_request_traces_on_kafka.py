"""On the real broker: what a request publishes is consumed in the request's trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentbus.bus import Bus, BusSettings
from agentbus.http import CurrentPrincipal, HttpSettings, current_principal, service_http_app
from agentbus.http.testing import serving
from agentbus.storage import UnitOfWork
from agentbus.telemetry import TelemetrySettings, setup_telemetry
from agentbus.testing import create_topics, eventually, unique
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, ActorKind

pytestmark = pytest.mark.integration

KEY = "k-acme"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
TASK = "agentbus.task.submitted.v1"


@dataclass
class Service:
    client: httpx.AsyncClient
    exporter: InMemorySpanExporter
    topic: str
    received: list[Envelope[Any]]

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def one(self, name: str, kind: SpanKind) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name and s.kind is kind]
        assert len(found) == 1, [(s.name, s.kind) for s in self.spans()]
        return found[0]


def _task(tenant: str) -> Envelope[TaskSubmitted]:
    data = TaskSubmitted(
        task_id=unique("task"),
        workflow="echo",
        input={"text": "hello"},
        requested_by=Actor(kind=ActorKind.USER, id="alice"),
    )
    return new_envelope(data, source="tests", tenant_id=tenant)


@pytest.fixture(params=["bus telemetry", "own telemetry"])
async def service(
    request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[Service]:
    """A bus consuming a fresh topic and an HTTP app publishing to it, served for real."""
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(
        "http-trace",
        TelemetrySettings(),
        span_processors=(SimpleSpanProcessor(exporter),),
        set_global=False,
    )
    topic = unique("http-trace")
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"])
    group = unique("http-trace")
    bus = Bus(
        BusSettings(
            bootstrap_servers=kafka_bootstrap,
            client_id=group,
            consumer_group=group,
            database_url=f"sqlite:///{tmp_path / 'bus.db'}",
            outbox_relay_interval_s=0.2,
            outbox_relay_grace_s=0.5,
        ),
        service="http-trace",
        telemetry=telemetry,
    )
    received: list[Envelope[Any]] = []

    @bus.consumer(topic, event_types={TASK})
    async def collect(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        received.append(envelope)

    app = service_http_app(
        title="http-trace",
        version="1",
        settings=HttpSettings(api_keys=[{"key": KEY, "tenant": "acme", "subject": "alice"}]),
        bus=bus,
        start=bus.start,
        stop=bus.stop,
        # Without it, the app's spans go through the bus's tracer (the planner's case).
        telemetry=telemetry if request.param == "own telemetry" else None,
    )
    router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])

    @router.post("/outboxed", status_code=202)
    async def outboxed(principal: CurrentPrincipal) -> dict[str, str]:
        envelope = _task(principal.tenant_id)
        async with bus.uow(principal.tenant_id) as uow:
            uow.publish(envelope, topic=topic)
            await uow.commit()
        await bus.relay.publish_committed(uow.published_ids)
        return {"id": envelope.id}

    @router.post("/direct", status_code=202)
    async def direct(principal: CurrentPrincipal) -> dict[str, str]:
        envelope = _task(principal.tenant_id)
        await bus.publish(envelope, topic=topic)
        return {"id": envelope.id}

    app.include_router(router)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield Service(client, exporter, topic, received)
    telemetry.shutdown()


async def _post_and_consume(service: Service, path: str) -> ReadableSpan:
    """POST `path` in the caller's trace; the server span, once its event was consumed."""
    response = await service.client.post(
        path, headers={"X-API-Key": KEY, "traceparent": TRACEPARENT}
    )
    assert response.status_code == 202, response.text

    async def consumed() -> bool:
        return [e.id for e in service.received] == [response.json()["id"]]

    await eventually(consumed, what="the published event")
    server = service.one(f"POST {path}", SpanKind.SERVER)
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == CALLER_SPAN
    assert (server.attributes or {})["agentbus.tenant_id"] == "acme"
    return server


async def test_an_event_a_request_publishes_through_the_outbox_continues_its_trace(
    service: Service,
) -> None:
    server = await _post_and_consume(service, "/v1/outboxed")
    [envelope] = service.received
    assert envelope.traceparent is not None
    assert envelope.traceparent.split("-")[1:3] == [
        TRACE_ID,
        format(server.context.span_id, "016x"),
    ]
    consumer = service.one(f"{service.topic} process", SpanKind.CONSUMER)
    producer = service.one(f"{service.topic} publish", SpanKind.PRODUCER)
    for span in (consumer, producer):
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.parent is not None
        assert span.parent.span_id == server.context.span_id


async def test_an_event_a_request_publishes_directly_continues_its_trace(
    service: Service,
) -> None:
    server = await _post_and_consume(service, "/v1/direct")
    consumer = service.one(f"{service.topic} process", SpanKind.CONSUMER)
    assert format(consumer.context.trace_id, "032x") == TRACE_ID
    assert consumer.parent is not None
    assert consumer.parent.span_id == server.context.span_id
