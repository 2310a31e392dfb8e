"""Guardrail events: policy checks on step input and output."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, JsonValue, model_validator

from ..base import Event
from ..registry import event
from ..types import Identifier, Name, StepRef, ValueType, Version

__all__ = [
    "Decision",
    "Direction",
    "Finding",
    "GuardrailCheckRequested",
    "GuardrailVerdict",
]

PolicySelector = Annotated[
    str,
    Field(max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*(@[0-9A-Za-z][0-9A-Za-z.+-]*)?$"),
]


class Direction(StrEnum):
    """Whether content goes into a model/tool or comes out of one."""

    INPUT = "input"
    OUTPUT = "output"


class Decision(StrEnum):
    """What the guardrail decided about the content."""

    ALLOW = "allow"
    MASK = "mask"
    BLOCK = "block"
    REQUIRE_APPROVAL = "require_approval"


class Finding(ValueType):
    """One policy hit; never carries the matched text itself."""

    kind: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9_.]*$",
        description="What was found, e.g. pii.email, pii.iban, secret.api_key, prompt_injection",
    )
    start: int | None = Field(default=None, ge=0, description="Start offset in text content")
    end: int | None = Field(
        default=None, ge=0, description="End offset (exclusive) in text content"
    )
    path: str | None = Field(
        default=None, description="JSON Pointer to the value, for JSON content"
    )
    score: float = Field(ge=0, le=1, description="Confidence between 0 and 1")
    rule: Name = Field(description="The policy rule that matched")
    entity: str | None = Field(
        default=None,
        max_length=64,
        description="Presidio-style entity name, e.g. EMAIL_ADDRESS, CREDIT_CARD, US_SSN",
    )
    detector: str | None = Field(
        default=None, max_length=128, description="Detector that produced the finding"
    )
    action: Decision | None = Field(
        default=None, description="What the policy does with this finding"
    )

    @model_validator(mode="after")
    def _span(self) -> Finding:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self


@event("agentbus.guardrail.check_requested.v1")
class GuardrailCheckRequested(Event):
    """The planner asks for content to be checked against the tenant's policy."""

    step: StepRef = Field(description="Run, step and attempt the check belongs to")
    direction: Direction = Field(description="input (before a call) or output (after it)")
    content: JsonValue = Field(description="The content to check: text or any JSON value")
    policy: PolicySelector | None = Field(
        default=None,
        description="Policy name, or name@version to pin one; null uses the tenant default",
    )
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema the content must satisfy (output checks)"
    )


@event("agentbus.guardrail.verdict.v1")
class GuardrailVerdict(Event):
    """The guardrail's decision on one check request."""

    step: StepRef = Field(description="Echoed from the request")
    request_id: Identifier = Field(description="ce_id of the check request answered")
    direction: Direction = Field(description="Echoed from the request")
    decision: Decision = Field(description="allow, mask, block or require_approval")
    findings: list[Finding] = Field(default_factory=list, description="What the policy found")
    masked_content: JsonValue | None = Field(
        default=None, description="The content with findings masked; set when decision=mask"
    )
    policy_name: Name = Field(description="Policy that decided")
    policy_version: Version = Field(description="Version of that policy")
    reason: str | None = Field(default=None, description="Short human summary of the decision")

    @model_validator(mode="after")
    def _masked(self) -> GuardrailVerdict:
        if self.decision is Decision.MASK and self.masked_content is None:
            raise ValueError("decision=mask requires masked_content")
        return self
