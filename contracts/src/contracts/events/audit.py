"""Audit events: one record per security- or compliance-relevant action.

Every service emits `AuditRecorded` through its outbox; `contracts.audit.record` builds
the envelope. The typed optional fields say which step, workflow, model, tool, policy
verdict, approval and spend an action involved. Prompts and outputs appear only as a
`ContentDigest` (masked text and/or a sha256), never raw.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, model_validator

from ..base import Event
from ..registry import event
from ..types import (
    Actor,
    ContentHash,
    ErrorCode,
    Identifier,
    Name,
    StepRef,
    TokenUsage,
    Usd,
    ValueType,
    Version,
    WorkflowRef,
)
from .approval import ApprovalOutcome
from .guardrail import Decision, Direction

__all__ = [
    "ApprovalUse",
    "AuditOutcome",
    "AuditRecorded",
    "ContentDigest",
    "GuardrailUse",
    "ModelUse",
    "ToolUse",
    "TraceId",
]

TraceId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
"""A W3C trace id: 32 lowercase hex digits."""


class AuditOutcome(StrEnum):
    """How the audited action ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"


class ContentDigest(ValueType):
    """A prompt or output as an auditor may see it: masked text and/or its sha256."""

    masked: str | None = Field(
        default=None, max_length=4000, description="The content after masking, possibly cut"
    )
    sha256: ContentHash | None = Field(
        default=None, description="sha256: and the hex digest of the raw UTF-8 content"
    )
    length: int | None = Field(default=None, ge=0, description="Characters in the raw content")

    @model_validator(mode="after")
    def _something(self) -> ContentDigest:
        if self.masked is None and self.sha256 is None:
            raise ValueError("a content digest needs masked text or a sha256")
        return self


class ModelUse(ValueType):
    """Which model answered."""

    provider: Name = Field(description="Provider adapter that answered, e.g. openai, local")
    model: str = Field(min_length=1, max_length=200, description="Provider's model name")
    alias: Name | None = Field(default=None, description="Alias the caller asked for")
    cached: bool = Field(default=False, description="True when served from the response cache")


class ToolUse(ValueType):
    """Which tool ran (or was refused)."""

    name: Name = Field(description="Tool name in the registry")
    version: Version | None = Field(default=None, description="Tool version, null if unresolved")


class GuardrailUse(ValueType):
    """A guardrail verdict and the policy that gave it."""

    decision: Decision = Field(description="allow, mask, block or require_approval")
    policy_name: Name = Field(description="Policy that decided")
    policy_version: Version = Field(description="Version of that policy")
    direction: Direction | None = Field(default=None, description="input or output check")
    findings: list[str] = Field(
        default_factory=list, description="Kinds found, e.g. pii.email (never the text)"
    )


class ApprovalUse(ValueType):
    """A human decision on a step."""

    outcome: ApprovalOutcome | None = Field(
        default=None, description="approved, rejected or expired; null while pending"
    )
    approval_id: Identifier | None = Field(default=None, description="The approval's id")
    approvers: list[Actor] = Field(default_factory=list, description="Who decided")


@event("agentbus.audit.recorded.v1")
class AuditRecorded(Event):
    """Something happened that an auditor must be able to see later."""

    actor: Actor = Field(description="Who acted: a user or a service")
    action: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
        description="Dotted verb such as tool.invoke, approval.decide, workflow.publish",
    )
    resource_type: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Kind of resource acted on, e.g. run, tool, workflow, approval",
    )
    resource_id: Identifier = Field(description="Id of the resource acted on")
    outcome: AuditOutcome = Field(description="succeeded, failed or denied")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Context, already masked: no secrets or raw PII"
    )
    occurred_at: AwareDatetime = Field(description="When the action happened")
    on_behalf_of: Actor | None = Field(
        default=None, description="The user or system whose task the action served"
    )
    step: StepRef | None = Field(default=None, description="Run, step and attempt, if any")
    workflow: WorkflowRef | None = Field(
        default=None, description="Workflow name, version and content hash, if any"
    )
    model: ModelUse | None = Field(default=None, description="Model that answered, if any")
    tool: ToolUse | None = Field(default=None, description="Tool involved, if any")
    guardrail: GuardrailUse | None = Field(default=None, description="Guardrail verdict, if any")
    approval: ApprovalUse | None = Field(default=None, description="Approval decision, if any")
    cost_usd: Usd | None = Field(default=None, description="Money spent by the action, if any")
    usage: TokenUsage | None = Field(default=None, description="Tokens billed, if any")
    prompt: ContentDigest | None = Field(
        default=None, description="Input as masked text or hash; never raw"
    )
    output: ContentDigest | None = Field(
        default=None, description="Output as masked text or hash; never raw"
    )
    error_code: ErrorCode | None = Field(default=None, description="Why it failed or was denied")
    trace_id: TraceId | None = Field(default=None, description="W3C trace id of the run")
