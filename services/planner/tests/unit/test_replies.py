"""Replies of the other services become step outcomes: outputs or errors with their causes."""

from __future__ import annotations

from datetime import UTC, datetime

from planner.definition import LlmStep
from planner.replies import to_replied

from contracts.events.approval import ApprovalDecided, ApprovalOutcome
from contracts.events.guardrail import Decision, Direction, GuardrailVerdict
from contracts.events.model import FinishReason, ModelResponded
from contracts.events.request import DeadLetterRef, RequestFailed
from contracts.types import ErrorInfo, StepRef

NOW = datetime(2026, 1, 1, tzinfo=UTC)
REF = StepRef(run_id="r", step_id="s", attempt=2)


def model(content: str) -> ModelResponded:
    return ModelResponded(
        step=REF,
        request_id="q",
        alias="a",
        content=content,
        finish_reason=FinishReason.STOP,
        latency_ms=1,
    )


def test_model_text_and_json_answers():
    text = LlmStep(id="s", type="llm", prompt="p")
    wants_json = LlmStep(id="s", type="llm", prompt="p", json_output=True)
    assert to_replied(model("hello"), text, now=NOW).output == "hello"
    assert to_replied(model('{"a": 1}'), wants_json, now=NOW).output == {"a": 1}
    bad = to_replied(model("not json"), wants_json, now=NOW)
    assert bad.error is not None
    assert (bad.error.code, bad.error.retryable) == ("model.invalid_json", True)
    assert (bad.step_key, bad.attempt, bad.request_id) == ("s", 2, "q")


def test_guardrail_block_fails_and_mask_passes_the_masked_content():
    def verdict(decision: Decision, masked=None) -> GuardrailVerdict:
        return GuardrailVerdict(
            step=REF,
            request_id="q",
            direction=Direction.INPUT,
            decision=decision,
            masked_content=masked,
            policy_name="p",
            policy_version="3",
            reason="secret found",
        )

    blocked = to_replied(verdict(Decision.BLOCK), None, now=NOW)
    assert blocked.error is not None
    assert blocked.error.code == "guardrail.blocked"
    assert blocked.error.message == "secret found (policy p@3)"
    masked = to_replied(verdict(Decision.MASK, "call [EMAIL]"), None, now=NOW)
    assert masked.output["content"] == "call [EMAIL]"


def test_rejected_approval_fails_the_step():
    decided = ApprovalDecided(
        step=REF,
        request_id="q",
        approval_id="ap1",
        outcome=ApprovalOutcome.REJECTED,
        reason="too much",
        decided_at=NOW,
    )
    replied = to_replied(decided, None, now=NOW)
    assert replied.error is not None
    assert (replied.error.code, replied.error.message) == ("approval.rejected", "too much")


def test_a_failed_reply_carries_the_dead_letter_cause():
    failed = RequestFailed(
        request_id="q",
        request_type="agentbus.tool.requested.v1",
        step=REF,
        error=ErrorInfo(code="request.dead_lettered", message="ValueError: bad amount"),
        dead_letter=DeadLetterRef(
            topic="tool.requests.dlq",
            partition=1,
            offset=7,
            original_topic="tool.requests",
            original_partition=1,
            original_offset=9,
        ),
    )
    replied = to_replied(failed, None, now=NOW)
    assert replied.error is not None
    assert (
        replied.error.message
        == "request dead-lettered to tool.requests.dlq: ValueError: bad amount"
    )
    assert replied.error.details["dlq_offset"] == 7
    assert not replied.error.retryable
