"""Contracts of the bus-runtime issue: failed replies, cancellations, model outcomes, workflows."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from contracts.envelope import decode, encode, new_envelope
from contracts.events import (
    ApprovalDecided,
    ApprovalOutcome,
    ModelOutcome,
    ModelResponded,
    RequestFailed,
    TaskCancelRequested,
    WorkflowApproved,
    WorkflowPublished,
)
from contracts.samples import SAMPLE_RUN_ID, SAMPLE_TASK_ID, SAMPLE_TENANT_ID, sample
from contracts.schemagen import DEFAULT_SCHEMAS_DIR

_ERROR = {"code": "model.unavailable", "message": "all providers failed"}


def test_a_failed_reply_names_the_request_the_cause_and_the_dead_letter() -> None:
    failed = sample(RequestFailed)
    assert failed.error.code == "request.dead_lettered"
    assert failed.dead_letter.topic == "model.requests.dlq"
    assert failed.dead_letter.original_offset == 41
    # The step is optional: an unparseable request body still gets its failed reply.
    assert sample(RequestFailed, step=None).step is None
    with pytest.raises(ValidationError, match=r"dead_letter\.offset"):
        sample(RequestFailed, dead_letter={**failed.dead_letter.model_dump(), "offset": -1})


def test_a_model_reply_from_an_older_producer_derives_its_outcome() -> None:
    ok = sample(ModelResponded)
    assert ok.outcome is ModelOutcome.OK
    error = sample(ModelResponded, content=None, finish_reason=None, error=_ERROR)
    assert error.outcome is ModelOutcome.ERROR
    assert json.loads(ok.model_dump_json())["outcome"] == "ok"


def test_a_budget_exceeded_reply_carries_its_error() -> None:
    budget = {"code": "budget.exceeded", "message": "tenant spent 10.00 of 10.00 USD"}
    reply = sample(
        ModelResponded, content=None, finish_reason=None, error=budget, outcome="budget_exceeded"
    )
    assert reply.outcome is ModelOutcome.BUDGET_EXCEEDED
    with pytest.raises(ValidationError, match="outcome ok exactly when content"):
        sample(ModelResponded, outcome="budget_exceeded")
    with pytest.raises(ValidationError, match="outcome ok exactly when content"):
        sample(ModelResponded, content=None, finish_reason=None, error=budget, outcome="ok")


def test_the_model_outcome_is_optional_in_the_schema() -> None:
    schema = json.loads((DEFAULT_SCHEMAS_DIR / "agentbus.model.responded.v1.json").read_text())
    assert "outcome" in schema["properties"]
    assert "outcome" not in schema["required"]


def test_an_approval_can_end_cancelled() -> None:
    decided = sample(ApprovalDecided, outcome="cancelled", decided_by=[])
    assert decided.outcome is ApprovalOutcome.CANCELLED


def test_a_task_cancel_request_is_keyed_by_task_even_with_a_run() -> None:
    cancel = sample(TaskCancelRequested)
    envelope = new_envelope(cancel, source="test", tenant_id=SAMPLE_TENANT_ID, run_id=SAMPLE_RUN_ID)
    assert encode(envelope).key == SAMPLE_TASK_ID.encode()


def test_workflow_events_are_keyed_by_name_and_round_trip() -> None:
    published = sample(WorkflowPublished)
    record = encode(new_envelope(published, source="test", tenant_id=SAMPLE_TENANT_ID))
    assert record.key == b"invoice-triage"
    assert decode(record.headers, record.value).data == published
    assert sample(WorkflowPublished, quality_gate=None).quality_gate is None
    with pytest.raises(ValidationError, match="reviewer"):
        WorkflowApproved.model_validate(
            {
                k: v
                for k, v in sample(WorkflowApproved).model_dump(mode="json").items()
                if k != "reviewer"
            }
        )
    with pytest.raises(ValidationError, match="content_hash"):
        sample(WorkflowPublished, content_hash="md5:abc")
