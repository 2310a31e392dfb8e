"""The service on a real broker: tool.requests in, tool.results and audit.log out; bad
input dead-lettered with a failed reply; a planted secret in no event, log, span or audit."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import select
from tool_executor.app import create_app
from tool_executor.domain import Grant

from agentbus.storage import OutboxEntry
from agentbus.telemetry import JsonFormatter, TelemetrySettings, setup_telemetry
from agentbus.testing import create_topics, produce, raw_record, unique
from contracts.envelope import decode, headers_to_dict

pytestmark = pytest.mark.integration

OUTPUTS = ["tool.results", "audit.log"]


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url")
    return url


def _text(record: Any) -> str:
    headers = " ".join(f"{k}={v!r}" for k, v in record.headers)
    return f"{record.value!r} {headers}"


async def test_requests_results_audit_dlq_and_no_secret_anywhere(
    kafka_bootstrap: str,
    database_url: str,
    settings_for: Any,
    harness: Any,
    counting_server: Any,
    watch: Any,
) -> None:
    # Own input topics, read from the start; the outputs are the catalogue's, watched from
    # their current end (other tests write them too).
    names = ("requests", "approval_requests", "approval_decisions")
    topics = {name: unique(f"te-{name}") for name in names}
    dlq = f"{topics['requests']}.dlq"
    await create_topics(kafka_bootstrap, [*topics.values(), dlq, *OUTPUTS], partitions=3)
    spans = InMemorySpanExporter()
    telemetry = setup_telemetry(
        "tool-executor",
        TelemetrySettings(),
        span_processors=(SimpleSpanProcessor(spans),),
        set_global=False,
    )
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter("tool-executor"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)

    settings = settings_for(
        database_url,
        topics=topics,
        bus={
            "bootstrap_servers": kafka_bootstrap,
            "database_url": database_url,
            "consumer_group": harness.service.settings.bus.consumer_group,
            "auto_offset_reset": "earliest",
            "retry": {"max_attempts": 2, "initial_backoff_s": 0.05, "jitter_s": 0},
        },
    )
    service = create_app(settings, telemetry=telemetry)
    await service.start()
    try:
        await service.bus.wait_until_assigned(timeout_s=60)
        owner = harness.__class__(service, harness.resolver)
        await owner.define(harness.http_tool("crm.update"))
        local = {"hosts": ["127.0.0.1"], "allowed_networks": ["127.0.0.1/32"]}
        await owner.grant("acme", Grant(tool="crm.update", scopes=["crm:write"], **local))
        requests = [
            harness.request("crm.update", {"url": f"{counting_server.url}/echo"}),
            harness.request("crm.update", {"url": f"{counting_server.url}/status/500"}),
            harness.request("crm.update", {"url": f"{counting_server.url}/echo"}, tenant="other"),
        ]
        poison = harness.request("crm.update", {"url": "x"})
        key, _value, headers = raw_record(poison)
        async with watch([*OUTPUTS, dlq]) as watcher:
            await produce(
                kafka_bootstrap,
                topics["requests"],
                [*(raw_record(r) for r in requests), (key, b'{"tool": 42}', headers)],
            )
            run_ids = {r.runid for r in [*requests, poison]}

            def ours(records: list[Any]) -> list[Any]:
                return [r for r in records if headers_to_dict(r.headers).get("ce_runid") in run_ids]

            def done(records: list[Any]) -> bool:
                mine = ours(records)
                results = [r for r in mine if r.topic == "tool.results"]
                audits = [r for r in mine if r.topic == "audit.log"]
                dead = [r for r in mine if r.topic == dlq]
                return len(results) >= 4 and len(audits) >= 3 and len(dead) >= 1

            records = ours(await watcher.until(done, timeout_s=90))
    finally:
        await service.stop()
        root.removeHandler(handler)
        root.setLevel(old_level)
        telemetry.shutdown()

    results = {r.value: decode(r.headers, r.value) for r in records if r.topic == "tool.results"}
    by_request = {}
    for envelope in results.values():
        data = envelope.data
        by_request[getattr(data, "request_id", None)] = data
    ok, failed, denied = (by_request[r.id] for r in requests)
    assert ok.status == "succeeded"
    assert ok.result["body"]["headers"]["authorization"] == "Bearer [secret:crm_token]"
    assert failed.status == "failed"
    assert (failed.error.code, failed.error.retryable) == ("tool.http_error", True)
    assert denied.status == "denied"
    assert "'other' has no grant" in denied.error.message
    # The poison record: dead-lettered with its cause, and a failed reply for its sender.
    dead = [r for r in records if r.topic == dlq]
    assert dead[0].key == key
    assert any(k.startswith("dlq.error") for k, _ in dead[0].headers)
    failed_reply = by_request[poison.id]
    assert failed_reply.EVENT_TYPE == "agentbus.request.failed.v1"
    audits = [decode(r.headers, r.value).data for r in records if r.topic == "audit.log"]
    assert {a.outcome for a in audits} == {"succeeded", "failed", "denied"}
    assert all(a.details["arguments_sha256"].startswith("sha256:") for a in audits)

    # The secret really travelled (the server saw it) ...
    seen = [r["headers"].get("authorization") for r in counting_server.requests]
    assert f"Bearer {harness.canary}" in seen
    # ... and appears in no event, log line, span or audit record.
    everything = [_text(r) for r in records]
    everything.append(logs.getvalue())
    finished = spans.get_finished_spans()
    assert finished, "the bus should have traced the handling"
    everything.extend(
        f"{s.name} {dict(s.attributes or {})} {[dict(e.attributes or {}) for e in s.events]}"
        for s in finished
    )
    async with service.bus.uow.sessions() as session:
        rows = (await session.exec(select(OutboxEntry))).all()
    everything.extend(f"{row.value!r} {row.headers!r}" for row in rows)
    await service.bus.engine.dispose()
    leaks = [chunk[:200] for chunk in everything if harness.canary in chunk]
    assert leaks == []
    assert logs.getvalue(), "logs were captured"
