"""Planted PII and secrets never appear in verdicts, audit records, logs, spans or the vault."""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from guardrail.tables import VaultRow
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import select

from agentbus.guard import Guard
from agentbus.guard.samples import SECRET_GENERATORS
from agentbus.telemetry import JsonFormatter, TelemetrySettings, setup_telemetry
from contracts.envelope import decode

from .harness import check_request, policy_dir, read_records, running, write_policy

pytestmark = pytest.mark.integration

PLANTED = {
    "email": "kenji.novak77@corp.co.uk",
    "card": "5500 0000 0000 0004",
    "ssn": "219-09-9999",
    "iban": "DE89 3704 0044 0532 0130 00",
    "phone": "+44 20 7946 0958",
    "aws": "AKIAQYLPMN5HNN4GOXJK",
    # A token with a valid CRC32 tail, as GitHub issues them.
    "github": SECRET_GENERATORS["GITHUB_TOKEN"](random.Random(9))[0],
}
POLICY = """
name: default
version: "3"
phone_regions: [US, GB]
categories:
  pii: {action: mask, mask: tokenize}
  secret: {action: block}
entities:
  EMAIL_ADDRESS: {action: mask, mask: hash}
  IBAN_CODE: {action: mask, mask: partial}
"""


def _variants(value: str) -> set[str]:
    """The value and its digits/characters without separators (a leak in another form)."""
    compact = "".join(c for c in value if c.isalnum())
    return {value, compact} if len(compact) >= 8 else {value}


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("guardrail"))
    root = logging.getLogger()
    kafka = logging.getLogger("aiokafka")
    previous = root.level, kafka.level
    root.addHandler(handler)
    # Everything at DEBUG, as an operator chasing a problem would run it. aiokafka stays at
    # WARNING exactly as agentbus.telemetry.configure_logging pins it in every service:
    # its DEBUG lines dump whole records (this test's own producer would "leak" them).
    root.setLevel(logging.DEBUG)
    kafka.setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous[0])
        kafka.setLevel(previous[1])


async def test_no_planted_value_leaks(
    kafka_bootstrap: str,
    sqlite_url: str,
    tmp_path: Path,
    guard: Guard,
    captured_logs: io.StringIO,
) -> None:
    policies = policy_dir(tmp_path)
    write_policy(policies, "acme", POLICY)
    spans = InMemorySpanExporter()
    telemetry = setup_telemetry(
        "guardrail",
        TelemetrySettings(),
        span_processors=(SimpleSpanProcessor(spans),),
        metric_readers=(InMemoryMetricReader(),),
        set_global=False,
    )
    pii = " | ".join(PLANTED[k] for k in ("email", "card", "ssn", "iban", "phone"))
    secrets = f"key {PLANTED['aws']} and token {PLANTED['github']}"
    async with running(kafka_bootstrap, sqlite_url, policies, guard, telemetry=telemetry) as h:
        masked_request = check_request({"body": pii, "nested": [pii]})
        blocked_request = check_request(secrets)
        await h.send(masked_request, blocked_request)
        verdict_records = await read_records(kafka_bootstrap, h.topics.verdicts, count=2)
        audit_records = await read_records(kafka_bootstrap, h.topics.audit, count=2)
        http = await h.post("bo", "/v1/guardrail/check", {"content": pii + " " + secrets})
        async with h.service.bus.uow.sessions() as session:
            vault = (await session.exec(select(VaultRow))).all()
    telemetry.shutdown()

    verdicts = {
        decode(r.headers, r.value).data.request_id: decode(r.headers, r.value).data
        for r in verdict_records
    }
    masked = verdicts[masked_request.id]
    assert masked.decision == "mask"
    kinds = {f.kind for f in masked.findings}
    assert kinds == {
        "pii.email_address",
        "pii.credit_card",
        "pii.us_ssn",
        "pii.iban_code",
        "pii.phone_number",
    }
    assert verdicts[blocked_request.id].decision == "block"
    assert {f.kind for f in verdicts[blocked_request.id].findings} == {
        "secret.aws_access_key",
        "secret.github_token",
    }
    assert http.json()["decision"] == "block"
    assert len(vault) == 3  # card, ssn, phone tokenized once each despite two occurrences

    haystacks = {
        "verdict events": b"".join(r.value + repr(r.headers).encode() for r in verdict_records),
        "audit records": b"".join(r.value for r in audit_records),
        "log lines": captured_logs.getvalue().encode(),
        "spans": json.dumps([json.loads(s.to_json()) for s in spans.get_finished_spans()]).encode(),
        "vault rows": b"".join(r.ciphertext + r.nonce + r.token.encode() for r in vault),
        "http response": http.content,
    }
    assert spans.get_finished_spans(), "spans were recorded"
    decided = [
        json.loads(line)
        for line in captured_logs.getvalue().splitlines()
        if '"check decided"' in line
    ]
    mine = [e for e in decided if e.get("run_id") == masked_request.runid]
    assert mine, "the consumer logged its decision"
    assert mine[0]["tenant_id"] == "acme"
    assert mine[0]["step_id"] == "draft"
    assert mine[0]["trace_id"] == (masked_request.traceparent or "").split("-")[1]
    for where, haystack in haystacks.items():
        for name, value in PLANTED.items():
            for form in _variants(value):
                lines = [ln[:300] for ln in haystack.splitlines() if form.encode() in ln]
                assert not lines, f"{name} leaked into {where}: {lines[:2]}"
