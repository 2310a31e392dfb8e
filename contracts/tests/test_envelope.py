"""Envelope round trips for every event type, decode errors, and a kcat-style record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from contracts.base import Event
from contracts.envelope import decode, encode, new_envelope
from contracts.errors import (
    ContractViolationError,
    EnvelopeError,
    MessageParseError,
    UnknownEventTypeError,
)
from contracts.events import ModelResponded, TaskSubmitted
from contracts.registry import all_events
from contracts.samples import SAMPLE_RUN_ID, SAMPLE_TASK_ID, SAMPLE_TENANT_ID, all_samples, sample

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize("event_type", sorted(all_events()))
def test_every_event_type_round_trips(event_type: str) -> None:
    data = all_samples()[event_type]
    envelope = new_envelope(
        data,
        source="test/contracts",
        tenant_id=SAMPLE_TENANT_ID,
        run_id=SAMPLE_RUN_ID,
        traceparent=TRACEPARENT,
    )
    record = encode(envelope)
    decoded = decode(record.headers, record.value)
    assert decoded == envelope
    assert type(decoded.data) is type(data)
    assert decoded.data == data
    assert record.key == (data.partition_key() or SAMPLE_RUN_ID).encode()
    assert dict(record.headers)["ce_dataschema"] == f"contracts/schemas/{event_type}.json".encode()


def test_key_is_the_task_id_before_a_run_exists() -> None:
    envelope = new_envelope(sample(TaskSubmitted), source="test", tenant_id=SAMPLE_TENANT_ID)
    assert encode(envelope).key == SAMPLE_TASK_ID.encode()


def test_a_kcat_style_task_decodes() -> None:
    """Plain byte headers and a hand-written body, as any Kafka client would send them."""
    headers = [
        ("ce_id", b"8d3a5c1e-0000-4000-8000-000000000001"),
        ("ce_source", b"kcat/upstream-erp"),
        ("ce_type", b"agentbus.task.submitted.v1"),
        ("ce_specversion", b"1.0"),
        ("ce_tenantid", b"tenant-acme"),
    ]
    body = b"""{
        "task_id": "erp-42",
        "workflow": "invoice-triage",
        "input": {"invoice_id": "42", "amount": "120.00"},
        "requested_by": {"kind": "service", "id": "erp"},
        "some_future_field": true
    }"""
    envelope = decode(headers, body)
    assert isinstance(envelope.data, TaskSubmitted)
    assert envelope.tenantid == "tenant-acme"
    assert envelope.data.task_id == "erp-42"
    assert envelope.data.priority == "normal"
    assert envelope.data.workflow_version is None
    assert envelope.key == "erp-42"
    assert envelope.time.tzinfo is not None


def good_headers(event_type: str = "agentbus.task.submitted.v1") -> list[tuple[str, bytes]]:
    return [
        ("ce_id", b"e-1"),
        ("ce_source", b"test"),
        ("ce_type", event_type.encode()),
        ("ce_specversion", b"1.0"),
        ("ce_tenantid", b"t-1"),
        ("ce_time", datetime(2025, 1, 1, tzinfo=UTC).isoformat().encode()),
    ]


def good_value() -> bytes:
    return sample(TaskSubmitted).model_dump_json().encode()


@pytest.mark.parametrize("value", [b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', None])
def test_a_value_that_is_not_a_json_object_is_a_parse_error(value: bytes | None) -> None:
    with pytest.raises(MessageParseError):
        decode(good_headers(), value)


@pytest.mark.parametrize("missing", ["ce_id", "ce_source", "ce_type", "ce_specversion"])
def test_a_missing_required_header_is_an_envelope_error(missing: str) -> None:
    headers = [(k, v) for k, v in good_headers() if k != missing]
    with pytest.raises(EnvelopeError, match=missing):
        decode(headers, good_value())


def test_a_missing_tenant_is_an_envelope_error() -> None:
    headers = [(k, v) for k, v in good_headers() if k != "ce_tenantid"]
    with pytest.raises(EnvelopeError, match="ce_tenantid"):
        decode(headers, good_value())


def test_a_wrong_specversion_or_traceparent_is_an_envelope_error() -> None:
    headers = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in good_headers()]
    with pytest.raises(EnvelopeError, match="specversion"):
        decode(headers, good_value())
    with pytest.raises(EnvelopeError, match="traceparent"):
        decode([*good_headers(), ("ce_traceparent", b"nonsense")], good_value())


def test_an_unknown_event_type_is_rejected() -> None:
    with pytest.raises(UnknownEventTypeError, match=r"agentbus\.task\.exploded\.v1"):
        decode(good_headers("agentbus.task.exploded.v1"), good_value())


def test_a_contract_violation_names_the_field() -> None:
    payload = json.loads(good_value())
    del payload["workflow"]
    payload["priority"] = "whenever"
    with pytest.raises(ContractViolationError) as info:
        decode(good_headers(), json.dumps(payload).encode())
    message = str(info.value)
    assert message.startswith("agentbus.task.submitted.v1: ")
    assert "workflow" in message
    assert "priority" in message


def test_every_contract_error_is_a_value_error() -> None:
    # Consumers route any ContractError straight to the DLQ without retrying.
    with pytest.raises(ValueError, match="unknown event type"):
        decode(good_headers("agentbus.task.exploded.v1"), good_value())


def test_samples_cover_every_registered_type() -> None:
    samples = all_samples()
    assert set(samples) == set(all_events())
    assert all(isinstance(s, Event) for s in samples.values())


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (b"not json", "value is not JSON"),
        (b"\xff\xfe", "value is not JSON"),
        (b"[1, 2]", "got list"),
        (b'"text"', "got str"),
        (b"null", "got NoneType"),
        (None, "got NoneType"),
    ],
)
def test_a_parse_error_says_what_the_value_is(value: bytes | None, says: str) -> None:
    with pytest.raises(MessageParseError, match=says):
        decode(good_headers(), value)


def test_a_value_that_is_not_json_is_a_parse_error_whatever_its_type_says() -> None:
    with pytest.raises(MessageParseError, match="not JSON"):
        decode(good_headers("agentbus.task.exploded.v1"), b"{oops")


def test_a_whole_record_rule_broken_is_a_contract_violation() -> None:
    # ModelResponded's own rule (exactly one of content and error) has no field path.
    reply = sample(ModelResponded).model_dump(mode="json")
    reply["content"], reply["error"] = None, None
    headers = good_headers("agentbus.model.responded.v1")
    with pytest.raises(ContractViolationError, match="exactly one of content and error"):
        decode(headers, json.dumps(reply).encode())
