"""The audit record contract and its constructor helper."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from contracts.audit import digest, record, service_actor, trace_id_of, with_trace_id
from contracts.envelope import decode, encode
from contracts.events.audit import (
    ApprovalUse,
    AuditRecorded,
    ContentDigest,
    GuardrailUse,
    ModelUse,
    ToolUse,
)
from contracts.samples import sample, sample_payload
from contracts.types import Actor, StepRef, TokenUsage

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_minimal_v1_record_still_validates() -> None:
    minimal = AuditRecorded.model_validate(sample_payload(AuditRecorded.EVENT_TYPE))
    assert minimal.step is None
    assert minimal.model is None
    assert minimal.trace_id is None


def test_record_builds_a_full_envelope_that_round_trips_on_the_wire() -> None:
    step = StepRef(run_id="run-7", step_id="classify", attempt=2)
    envelope = record(
        source="model-router",
        tenant_id="acme",
        actor=service_actor("model-router"),
        action="model.call",
        resource_type="model",
        resource_id="echo-1",
        outcome="succeeded",
        step=step,
        traceparent=TRACEPARENT,
        event_id="evt-1:audit",
        model=ModelUse(provider="local", model="echo-1", alias="default"),
        usage=TokenUsage(prompt_tokens=10, completion_tokens=5),
        cost_usd=Decimal("0.000150"),
        prompt=digest("call alice@example.com", masked="call [EMAIL]"),
        on_behalf_of=Actor(kind="user", id="alice"),
    )
    assert envelope.runid == "run-7"
    assert envelope.key == "run-7"
    assert envelope.id == "evt-1:audit"
    assert envelope.data.trace_id == "0af7651916cd43dd8448eb211c80319c"
    wire = encode(envelope)
    back = decode(wire.headers, wire.value)
    assert back.data == envelope.data
    assert "alice@example.com" not in wire.value.decode()


def test_digest_hashes_raw_content_and_keeps_only_masked_text() -> None:
    d = digest("secret 4111111111111111", masked="secret [CARD]")
    assert d.masked == "secret [CARD]"
    assert d.length == 23
    assert d.sha256 is not None
    assert d.sha256.startswith("sha256:")
    assert len(d.sha256) == 71
    assert digest("x" * 10, masked="y" * 5000).masked == "y" * 4000


def test_a_digest_needs_masked_text_or_a_hash() -> None:
    with pytest.raises(ValidationError, match="masked text or a sha256"):
        ContentDigest()


def test_typed_fields_validate() -> None:
    with pytest.raises(ValidationError):
        sample(AuditRecorded, trace_id="not-a-trace")
    with pytest.raises(ValidationError):
        sample(AuditRecorded, cost_usd="-1")
    full = sample(
        AuditRecorded,
        tool=ToolUse(name="crm.lookup", version="1.0.0"),
        guardrail=GuardrailUse(decision="block", policy_name="default", policy_version="3"),
        approval=ApprovalUse(outcome="approved", approvers=[Actor(kind="user", id="bob")]),
    )
    assert full.guardrail is not None
    assert full.guardrail.decision == "block"


def test_trace_id_of_ignores_malformed_traceparents() -> None:
    assert trace_id_of(None) is None
    assert trace_id_of("garbage") is None
    assert trace_id_of(TRACEPARENT) == "0af7651916cd43dd8448eb211c80319c"


def test_with_trace_id_fills_only_an_empty_trace_id_from_the_traceparent() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace}-00f067aa0ba902b7-01"
    base = dict(source="svc", tenant_id="acme", actor=service_actor("svc"), action="x.y",
                resource_type="run", resource_id="r1", outcome="succeeded")  # fmt: skip
    bare = record(**base)
    assert bare.data.trace_id is None
    stamped = with_trace_id(bare.model_copy(update={"traceparent": parent}))
    assert stamped.data.trace_id == trace
    wire = encode(stamped)
    assert decode(wire.headers, wire.value).data.trace_id == trace
    own = "0af7651916cd43dd8448eb211c80319c"
    kept = record(**base, trace_id=own).model_copy(update={"traceparent": parent})
    assert with_trace_id(kept).data.trace_id == own
    assert with_trace_id(bare).data.trace_id is None
    zero = bare.model_copy(update={"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"})
    assert with_trace_id(zero).data.trace_id is None
