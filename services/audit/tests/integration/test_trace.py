"""Audit records carry the run's trace id, end to end on the real broker.

A probe service handles a traced event and emits an audit record without naming any
trace: the bus stamps the handler's trace on the envelope and the record's trace_id on
the topic. A record that reaches the topic without a trace id (an older producer) gets
the one of its envelope's traceparent when the audit service stores it, and a replay
fills it identically. The run report shows the trace id in JSON and HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from audit.app import create_app
from audit.export import read_export
from audit.reader import Window
from audit.replay import replay
from audit.sinks import JsonlSink
from audit.tables import AuditRecord
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from agentbus.bus import Bus, BusSettings
from agentbus.http.testing import serving
from agentbus.storage import UnitOfWork
from agentbus.telemetry import TelemetrySettings, current_trace_id, setup_telemetry
from agentbus.testing import consume, create_topics, eventually, produce, raw_record, unique
from contracts.audit import record, service_actor
from contracts.envelope import Envelope

from .harness import key_of, settings_for, stored

pytestmark = pytest.mark.integration

UPSTREAM_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
UPSTREAM = f"00-{UPSTREAM_TRACE}-00f067aa0ba902b7-01"
LEGACY_TRACE = "0af7651916cd43dd8448eb211c80319c"
LEGACY = f"00-{LEGACY_TRACE}-b7ad6b7169203331-01"


def probe_record(tenant: str, run_id: str, action: str, **extra: Any) -> Envelope[Any]:
    return record(
        source="probe",
        tenant_id=tenant,
        actor=service_actor("probe"),
        action=action,
        resource_type="run",
        resource_id=run_id,
        outcome="succeeded",
        run_id=run_id,
        **extra,
    )


async def test_a_record_emitted_in_a_traced_handler_carries_the_run_trace_id(
    kafka_bootstrap: str, sqlite_url: str, tmp_path: Path, audit_topic
) -> None:
    exporter = InMemorySpanExporter()
    telemetry = setup_telemetry(
        "probe", TelemetrySettings(), span_processors=(SimpleSpanProcessor(exporter),),
        set_global=False,
    )  # fmt: skip
    topic = await audit_topic(3)
    trigger = unique("trace-trigger")
    await create_topics(kafka_bootstrap, [trigger, f"{trigger}.dlq"])
    run_id = unique("run")

    async def handle(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        # Like a service's handler: the record names no trace, the bus supplies it.
        uow.publish(
            probe_record(uow.tenant_id, run_id, "probe.handle", event_id=f"{envelope.id}:audit"),
            topic=topic,
        )

    probe = Bus(
        BusSettings(
            bootstrap_servers=kafka_bootstrap,
            consumer_group=unique("probe"),
            database_url=f"sqlite:///{tmp_path}/probe.db",
            commit_interval_s=0.2,
            outbox_relay_interval_s=0.2,
        ),
        service="probe",
        telemetry=telemetry,
    )
    probe.consumer(trigger, event_types={"agentbus.audit.recorded.v1"})(handle)
    cause = probe_record("acme", run_id, "probe.cause").model_copy(update={"traceparent": UPSTREAM})
    # A record as an older producer wrote it: no trace_id in its data, a traceparent beside.
    legacy = probe_record("acme", run_id, "probe.legacy").model_copy(update={"traceparent": LEGACY})
    assert legacy.data.trace_id is None
    await produce(kafka_bootstrap, trigger, [raw_record(cause)])
    await produce(kafka_bootstrap, topic, [raw_record(legacy)])
    await probe.start()
    try:
        service = create_app(settings_for(sqlite_url, kafka_bootstrap, topic))
        # Serving the HTTP app runs the whole service (bus and API) for the block.
        async with serving(service.http) as base, httpx.AsyncClient(base_url=base) as http:

            async def both_stored() -> bool:
                return await stored(service) >= 2

            await eventually(both_stored, timeout_s=60, what="the two records stored")
            # On the topic: the handler's record names the upstream trace itself.
            on_topic = {
                orjson.loads(r.value)["action"]: orjson.loads(r.value)
                for r in await consume(kafka_bootstrap, topic, count=2)
            }
            assert on_topic["probe.handle"]["trace_id"] == UPSTREAM_TRACE
            assert on_topic["probe.legacy"]["trace_id"] is None
            # In the store: both carry a trace id, the legacy one from its traceparent.
            async with service.bus.engine.connect() as conn:
                rows = (await conn.execute(select(AuditRecord.body))).scalars().all()
            bodies = {orjson.loads(b)["data"]["action"]: bytes(b) for b in rows}
            traces = {a: orjson.loads(b)["data"]["trace_id"] for a, b in bodies.items()}
            assert traces == {"probe.handle": UPSTREAM_TRACE, "probe.legacy": LEGACY_TRACE}
            spans = [s for s in exporter.get_finished_spans() if s.name == f"{trigger} process"]
            assert {format(s.context.trace_id, "032x") for s in spans} == {UPSTREAM_TRACE}
            # The run report names the trace of every record, as JSON and on the HTML page.
            auth = {"X-API-Key": key_of("ann")}
            url = f"/v1/audit/runs/{run_id}/report"
            report = (await http.get(url, headers=auth)).json()
            page = (await http.get(f"{url}.html", headers=auth)).text
            assert {i["action"]: i["trace_id"] for i in report["timeline"]} == traces
            assert report["trace_ids"] == sorted(traces.values())
            assert UPSTREAM_TRACE in page
            assert LEGACY_TRACE in page
        # A replay of the topic fills the legacy record the same way: the same entry bytes.
        export = tmp_path / "replay.jsonl"
        await replay(kafka_bootstrap, Window(topic), JsonlSink(export))
        replayed = {
            orjson.loads(item.body)["data"]["action"]: item.body
            for item in read_export(export)
            if hasattr(item, "body")
        }
        # The report reads were audited onto the topic too (audit.read); compare the probe's.
        assert {a: b for a, b in replayed.items() if a.startswith("probe.")} == bodies
    finally:
        await probe.stop()
        telemetry.shutdown()


def test_current_trace_id_names_the_active_span_only() -> None:
    telemetry = setup_telemetry("probe", TelemetrySettings(), set_global=False)
    tracer = telemetry.tracer_provider.get_tracer("test")
    assert current_trace_id() is None
    with tracer.start_as_current_span("work") as span:
        assert current_trace_id() == format(span.get_span_context().trace_id, "032x")
    assert current_trace_id() is None
    telemetry.shutdown()
