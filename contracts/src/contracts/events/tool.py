"""Tool events: tool invocations through the tool-executor and their results."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, JsonValue, model_validator

from ..base import Event
from ..registry import event
from ..types import (
    Actor,
    ContentHash,
    ErrorInfo,
    Identifier,
    Millis,
    Name,
    StepRef,
    ValueType,
    Version,
)
from .evaluation import EvaluationMarker

__all__ = [
    "Scope",
    "ToolApproval",
    "ToolCompleted",
    "ToolRequested",
    "ToolStatus",
    "arguments_sha256",
    "canonical_json",
]

Scope = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_.:/-]*$")]
"""A permission a tool requires and a caller holds, e.g. `crm:write`."""


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of a JSON value: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def arguments_sha256(arguments: dict[str, Any]) -> str:
    """`sha256:` and the hex digest of the canonical JSON of a tool call's arguments."""
    return "sha256:" + hashlib.sha256(canonical_json(arguments)).hexdigest()


class ToolStatus(StrEnum):
    """How a tool invocation ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"


class ToolApproval(ValueType):
    """A human approval the request carries; it is valid only for the arguments it names."""

    approval_id: Identifier = Field(description="The approval service's id (ApprovalDecided)")
    arguments_sha256: ContentHash = Field(
        description="arguments_sha256(arguments) the approvers saw; must match this request's"
    )


@event("agentbus.tool.requested.v1")
class ToolRequested(Event):
    """The planner asks the tool-executor to invoke a tool."""

    step: StepRef = Field(description="Run, step and attempt the call belongs to")
    tool: Name = Field(description="Tool name in the registry")
    version: Version | None = Field(
        default=None, description="Tool version to pin; null uses the latest granted version"
    )
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Arguments, validated against the tool's JSON Schema"
    )
    idempotency_key: Identifier = Field(
        description="Same key on every attempt of the same step, so a side effect happens once"
    )
    scopes: list[Scope] = Field(
        default_factory=list, description="Scopes the calling step holds; a tool needs all of its"
    )
    roles: list[Name] = Field(
        default_factory=list, description="Roles of the principal the run acts for"
    )
    on_behalf_of: Actor | None = Field(
        default=None, description="The user or system whose task the call serves"
    )
    approval: ToolApproval | None = Field(
        default=None, description="Approval for a tool that needs one, bound to the arguments"
    )
    evaluation: EvaluationMarker | None = Field(
        default=None,
        description="The run is an evaluation: a write tool answers from its fixture or is refused",
    )


@event("agentbus.tool.completed.v1")
class ToolCompleted(Event):
    """The tool-executor's result for one request: a result, a failure or a denial."""

    step: StepRef = Field(description="Echoed from the request")
    request_id: Identifier = Field(description="ce_id of the tool request answered")
    tool: Name = Field(description="Echoed from the request")
    version: Version | None = Field(
        default=None, description="Version that ran; null when the tool was not resolved"
    )
    status: ToolStatus = Field(description="succeeded, failed or denied")
    result: JsonValue = Field(default=None, description="The tool's output when it succeeded")
    error: ErrorInfo | None = Field(
        default=None, description="Why it failed or was denied; null when it succeeded"
    )
    duration_ms: Millis = Field(description="Execution time (0 when denied before running)")

    @model_validator(mode="after")
    def _error_matches_status(self) -> ToolCompleted:
        if (self.status is ToolStatus.SUCCEEDED) != (self.error is None):
            raise ValueError("error must be set exactly when status is failed or denied")
        return self
