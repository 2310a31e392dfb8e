"""Service replies (the existing contracts) turned into a step outcome: output or error."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from contracts.base import Event
from contracts.events.approval import ApprovalDecided, ApprovalOutcome
from contracts.events.guardrail import Decision, GuardrailVerdict
from contracts.events.model import ModelResponded
from contracts.events.request import RequestFailed
from contracts.events.tool import ToolCompleted, ToolStatus
from contracts.types import ErrorInfo

from .definition import LlmStep, StepBase
from .state import Replied

__all__ = ["REPLY_TYPES", "to_replied"]

REPLY_TYPES = (ModelResponded, ToolCompleted, GuardrailVerdict, ApprovalDecided, RequestFailed)


def to_replied(reply: Event, step: StepBase | None, *, now: datetime) -> Replied:
    """The state machine input for a reply; `step` is its definition when known."""
    if isinstance(reply, RequestFailed):
        error = reply.error.model_copy(
            update={
                "message": f"request dead-lettered to {reply.dead_letter.topic}: "
                f"{reply.error.message}",
                "details": {
                    **reply.error.details,
                    "dlq_topic": reply.dead_letter.topic,
                    "dlq_partition": reply.dead_letter.partition,
                    "dlq_offset": reply.dead_letter.offset,
                },
            }
        )
        ref = reply.step
        return Replied(
            now=now,
            request_id=reply.request_id,
            step_key=ref.step_id if ref else None,
            attempt=ref.attempt if ref else None,
            error=error,
        )
    output, outcome_error = _outcome(reply, step)
    ref = reply.step  # type: ignore[attr-defined]
    return Replied(
        now=now,
        request_id=reply.request_id,  # type: ignore[attr-defined]
        step_key=ref.step_id,
        attempt=ref.attempt,
        output=output,
        error=outcome_error,
    )


def _outcome(reply: Event, step: StepBase | None) -> tuple[Any, ErrorInfo | None]:
    if isinstance(reply, ModelResponded):
        if reply.error is not None:
            return None, reply.error
        content = reply.content or ""
        wants_json = isinstance(step, LlmStep) and (step.json_output or step.output_schema)
        if not wants_json:
            return content, None
        try:
            return json.loads(content), None
        except ValueError:
            return None, ErrorInfo(
                code="model.invalid_json", message="the model's answer is not JSON", retryable=True
            )
    if isinstance(reply, ToolCompleted):
        if reply.status is ToolStatus.SUCCEEDED:
            return reply.result, None
        return None, reply.error
    if isinstance(reply, GuardrailVerdict):
        if reply.decision is Decision.BLOCK:
            reason = reply.reason or "content blocked by policy"
            return None, ErrorInfo(
                code="guardrail.blocked",
                message=f"{reason} (policy {reply.policy_name}@{reply.policy_version})",
                details={"findings": [f.kind for f in reply.findings]},
            )
        return {
            "decision": reply.decision.value,
            "content": reply.masked_content,
            "findings": [f.kind for f in reply.findings],
            "policy": f"{reply.policy_name}@{reply.policy_version}",
        }, None
    if isinstance(reply, ApprovalDecided):
        if reply.outcome is ApprovalOutcome.APPROVED:
            return {
                "outcome": reply.outcome.value,
                "approval_id": reply.approval_id,
                "decided_by": [a.id for a in reply.decided_by],
            }, None
        return None, ErrorInfo(
            code=f"approval.{reply.outcome.value}",
            message=reply.reason or f"approval {reply.outcome.value}",
            details={"approval_id": reply.approval_id},
        )
    raise TypeError(f"{type(reply).__name__} is not a step reply")
