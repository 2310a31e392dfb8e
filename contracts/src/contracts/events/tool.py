"""Tool events: tool invocations through the tool-executor and their results."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, JsonValue, model_validator

from ..base import Event
from ..registry import event
from ..types import ErrorInfo, Identifier, Millis, Name, StepRef, Version

__all__ = ["ToolCompleted", "ToolRequested", "ToolStatus"]


class ToolStatus(StrEnum):
    """How a tool invocation ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"


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
