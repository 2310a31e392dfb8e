"""Step request payloads (the existing contracts) built from a step and its inputs."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from contracts.base import Event
from contracts.events.approval import ApprovalRequested
from contracts.events.evaluation import EvaluationMarker
from contracts.events.guardrail import GuardrailCheckRequested
from contracts.events.model import ModelParameters, ModelRequested, ResponseFormat
from contracts.events.tool import ToolRequested
from contracts.types import Actor, ChatMessage, Role, StepKind, StepRef

from .definition import ApprovalStep, GuardrailStep, LlmStep, StepBase, ToolStep
from .expressions import render

__all__ = ["KINDS", "build_request", "deterministic_id", "kind_of"]

_NAMESPACE = uuid.UUID("8f0c2f1e-4a1b-4c57-9a43-5f2a1d7b6c10")

KINDS: dict[str, StepKind] = {
    "llm": StepKind.MODEL,
    "tool": StepKind.TOOL,
    "guardrail": StepKind.GUARDRAIL,
    "approval": StepKind.APPROVAL,
}


def kind_of(step: StepBase) -> StepKind | None:
    """The service kind that executes `step`, or None for planner-internal steps."""
    return KINDS.get(str(getattr(step, "type", "")))


def deterministic_id(*parts: str) -> str:
    """A uuid derived from its parts: replaying a decision yields the same ids."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def build_request(
    step: StepBase,
    ref: StepRef,
    inputs: dict[str, Any],
    *,
    now: datetime,
    requested_by: Actor,
    evaluation: EvaluationMarker | None = None,
) -> Event:
    """The contract request for one attempt of `step`."""
    if isinstance(step, LlmStep):
        return _model(step, ref, inputs)
    if isinstance(step, ToolStep):
        return ToolRequested(
            step=ref,
            tool=step.tool,
            version=step.version,
            arguments=inputs,
            # Same on every attempt: a retried side effect happens once at the tool.
            idempotency_key=deterministic_id(ref.run_id, ref.step_id, "tool"),
            scopes=list(step.scopes),
            on_behalf_of=requested_by,
            evaluation=evaluation,
        )
    if isinstance(step, GuardrailStep):
        return GuardrailCheckRequested(
            step=ref,
            direction=step.direction,
            content=inputs.get("content"),
            policy=step.policy,
            output_schema=step.output_schema,
        )
    if isinstance(step, ApprovalStep):
        return ApprovalRequested(
            step=ref,
            subject=render(step.subject, inputs)[:500],
            details=inputs,
            required_approvals=step.required_approvals,
            roles=step.roles,
            escalation_roles=step.escalation_roles,
            deadline=now + timedelta(seconds=step.deadline_s),
            requested_by=requested_by,
        )
    raise TypeError(f"step {step.id!r} of type {getattr(step, 'type', '?')} sends no request")


def _model(step: LlmStep, ref: StepRef, inputs: dict[str, Any]) -> ModelRequested:
    messages = []
    if step.system:
        messages.append(ChatMessage(role=Role.SYSTEM, content=render(step.system, inputs)))
    messages.append(ChatMessage(role=Role.USER, content=render(step.prompt, inputs)))
    if step.output_schema is not None:
        parameters = ModelParameters(
            temperature=step.temperature,
            max_tokens=step.max_tokens,
            response_format=ResponseFormat.JSON_SCHEMA,
            json_schema=step.output_schema,
        )
    else:
        parameters = ModelParameters(
            temperature=step.temperature,
            max_tokens=step.max_tokens,
            response_format=ResponseFormat.JSON_OBJECT if step.json_output else ResponseFormat.TEXT,
        )
    return ModelRequested(step=ref, alias=step.model, messages=messages, parameters=parameters)
