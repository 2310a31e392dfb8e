"""One trace across hops: W3C trace context travels in ce_traceparent through the outbox."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentbus.bus import Bus
from agentbus.storage import UnitOfWork
from agentbus.telemetry import TelemetrySettings, setup_telemetry
from agentbus.testing import consume, create_topics, eventually, produce, raw_record, unique
from contracts.envelope import Envelope

pytestmark = pytest.mark.integration

UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM = f"00-{UPSTREAM_TRACE}-00f067aa0ba902b7-01"


async def test_a_task_and_what_it_causes_share_one_trace(case, started, make_task):
    exporter, metric_reader = InMemorySpanExporter(), InMemoryMetricReader()
    telemetry = setup_telemetry(
        "test",
        TelemetrySettings(),
        span_processors=(SimpleSpanProcessor(exporter),),
        metric_readers=(metric_reader,),
        set_global=False,
    )
    downstream = unique("downstream")
    await create_topics(case.bootstrap, [downstream, f"{downstream}.dlq"])
    received: list[Envelope[Any]] = []

    async def forward(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        uow.publish(make_task(tenant=envelope.tenantid), topic=downstream)

    async def collect(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        received.append(envelope)

    first = Bus(case.settings(), service="first", telemetry=telemetry)
    first.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(forward)
    second = Bus(
        case.settings(consumer_group=case.group + "-2", client_id="second"),
        service="second",
        telemetry=telemetry,
    )
    second.consumer(downstream, event_types={"agentbus.task.submitted.v1"})(collect)
    task = make_task().model_copy(update={"traceparent": UPSTREAM})
    await produce(case.bootstrap, case.topic, [raw_record(task)])
    await started(first)
    await started(second)

    async def arrived() -> bool:
        return len(received) == 1

    await eventually(arrived, what="the forwarded event")
    [forwarded] = received
    assert forwarded.traceparent is not None
    assert forwarded.traceparent.split("-")[1] == UPSTREAM_TRACE
    spans = exporter.get_finished_spans()
    names = {(s.name, s.kind.name) for s in spans}
    assert {
        (f"{case.topic} process", "CONSUMER"),
        (f"{downstream} publish", "PRODUCER"),
        (f"{downstream} process", "CONSUMER"),
    } <= names
    assert {format(s.context.trace_id, "032x") for s in spans} == {UPSTREAM_TRACE}
    points: dict[str, list[Any]] = {}
    for resource in metric_reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(
                    p.attributes for p in metric.data.data_points
                )
    assert {"topic": case.topic, "outcome": "handled"} in points["agentbus.bus.records"]
    assert any(p["topic"] == downstream for p in points["agentbus.bus.consumer_lag"])
    telemetry.shutdown()


class ForwardAfterIo:
    """An I/O handler whose record phase publishes (it runs in the group-commit task)."""

    def __init__(self, downstream: str, make_task: Any) -> None:
        self.downstream, self.make_task = downstream, make_task

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        return None

    async def perform(self, prepared: None, ctx: Any) -> None:
        return None

    async def record(self, envelope: Envelope[Any], result: None, uow: UnitOfWork) -> None:
        uow.publish(self.make_task(tenant=envelope.tenantid), topic=self.downstream)


async def test_what_an_io_handler_publishes_continues_its_own_span(case, started, make_task):
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(
        "test",
        TelemetrySettings(),
        span_processors=(SimpleSpanProcessor(exporter),),
        set_global=False,
    )
    downstream = unique("downstream")
    await create_topics(case.bootstrap, [downstream])
    bus = Bus(case.settings(), service="io", telemetry=telemetry)
    bus.io_consumer(
        case.topic,
        ForwardAfterIo(downstream, make_task),
        event_types={"agentbus.task.submitted.v1"},
    )
    tasks = [make_task().model_copy(update={"traceparent": UPSTREAM}) for _ in range(3)]
    await produce(case.bootstrap, case.topic, [raw_record(t) for t in tasks])
    await started(bus)
    records = await consume(case.bootstrap, downstream, count=3)
    parents = {dict(r.headers)["ce_traceparent"].decode().split("-")[2] for r in records}
    consumers = {
        format(s.context.span_id, "016x")
        for s in exporter.get_finished_spans()
        if s.name == f"{case.topic} process"
    }
    assert len(consumers) == 3
    assert parents == consumers, "each event is a child of the span that handled its cause"
    telemetry.shutdown()
