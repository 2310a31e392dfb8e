"""The event models: frozen, documented, and enforcing their cross-field rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events import (
    GuardrailVerdict,
    ModelRequested,
    ModelResponded,
    TaskCompleted,
    TaskSubmitted,
    ToolCompleted,
    UsageRecorded,
)
from contracts.registry import EVENT_TYPE_PATTERN, all_events
from contracts.samples import sample, sample_payload
from contracts.schemagen import schema_for


def test_event_types_follow_the_naming_rule() -> None:
    for event_type, model in all_events().items():
        assert EVENT_TYPE_PATTERN.match(event_type)
        assert event_type == model.EVENT_TYPE


def test_events_are_frozen() -> None:
    task = sample(TaskSubmitted)
    with pytest.raises(ValidationError):
        task.workflow = "other"  # type: ignore[misc]


def test_every_property_is_described() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert prop.get("description"), f"{where}.{name} has no description"
            for key, child in node.items():
                walk(child, f"{where}.{key}")
        elif isinstance(node, list):
            for child in node:
                walk(child, where)

    for event_type, model in all_events().items():
        schema = schema_for(model)
        assert schema.get("description"), f"{event_type} has no docstring"
        walk(schema, event_type)


def test_unknown_fields_from_newer_producers_are_ignored() -> None:
    task = TaskSubmitted.model_validate({**sample_payload(TaskSubmitted.EVENT_TYPE), "new": 1})
    assert "new" not in task.model_dump()


def test_money_is_a_decimal_serialized_as_a_string() -> None:
    usage = sample(UsageRecorded, cost_usd="0.000150")
    assert usage.cost_usd == Decimal("0.000150")
    assert '"cost_usd":"0.000150"' in usage.model_dump_json()
    with pytest.raises(ValidationError):
        sample(UsageRecorded, cost_usd="-1")


def test_datetimes_need_a_timezone() -> None:
    naive = {"started_at": "2025-01-01T00:00:00", "finished_at": "2025-01-01T00:00:01"}
    with pytest.raises(ValidationError, match="timezone"):
        sample(TaskCompleted, timings={**naive, "duration_ms": 1000})


def test_timings_must_be_ordered() -> None:
    backwards = {
        "started_at": "2025-01-01T00:00:01Z",
        "finished_at": "2025-01-01T00:00:00Z",
        "duration_ms": 0,
    }
    with pytest.raises(ValidationError, match="before started_at"):
        sample(TaskCompleted, timings=backwards)


def test_a_mask_verdict_carries_masked_content() -> None:
    with pytest.raises(ValidationError, match="masked_content"):
        sample(GuardrailVerdict, masked_content=None)
    assert sample(GuardrailVerdict, decision="allow", masked_content=None).findings


def test_a_model_response_has_content_or_an_error() -> None:
    error = {"code": "model.unavailable", "message": "all providers failed"}
    failed = sample(ModelResponded, content=None, finish_reason=None, error=error)
    assert failed.error is not None
    with pytest.raises(ValidationError, match="exactly one"):
        sample(ModelResponded, error=error)
    with pytest.raises(ValidationError, match="exactly one"):
        sample(ModelResponded, content=None)


def test_a_tool_result_has_an_error_exactly_when_it_did_not_succeed() -> None:
    denied = {"code": "tool.not_granted", "message": "tenant has no grant for crm.lookup"}
    assert sample(ToolCompleted, status="denied", result=None, error=denied).error is not None
    with pytest.raises(ValidationError, match="error must be set"):
        sample(ToolCompleted, status="failed")
    with pytest.raises(ValidationError, match="error must be set"):
        sample(ToolCompleted, error=denied)


def test_model_request_rules() -> None:
    with pytest.raises(ValidationError, match="messages"):
        sample(ModelRequested, messages=[])
    with pytest.raises(ValidationError, match="json_schema"):
        sample(ModelRequested, parameters={"response_format": "json_schema"})
    with pytest.raises(ValidationError, match="temperature"):
        sample(ModelRequested, parameters={"temperature": 3})


def test_token_usage_total() -> None:
    assert sample(ModelResponded).usage.total_tokens == 150


@pytest.mark.parametrize(
    ("field", "value"),
    [("task_id", ""), ("task_id", "has space"), ("workflow", "-bad"), ("priority", "asap")],
)
def test_constrained_strings(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        sample(TaskSubmitted, **{field: value})
