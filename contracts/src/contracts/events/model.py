"""Model events: chat completion requests to the model-router and its replies."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from ..base import Event
from ..registry import event
from ..types import (
    ChatMessage,
    ErrorInfo,
    Identifier,
    Millis,
    Name,
    StepRef,
    TokenUsage,
    Usd,
    ValueType,
)

__all__ = [
    "BudgetHints",
    "FinishReason",
    "ModelOutcome",
    "ModelParameters",
    "ModelRequested",
    "ModelResponded",
    "ResponseFormat",
]


class ResponseFormat(StrEnum):
    """What shape of answer the caller wants."""

    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


class FinishReason(StrEnum):
    """Why the model stopped generating."""

    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    TOOL_CALLS = "tool_calls"


class ModelOutcome(StrEnum):
    """How a model request ended; only `ok` carries content."""

    OK = "ok"
    ERROR = "error"
    BUDGET_EXCEEDED = "budget_exceeded"
    RATE_LIMITED = "rate_limited"


def _derived_outcome(data: dict[str, Any]) -> ModelOutcome:
    # Replies from producers that predate the field: ok with content, error without.
    return ModelOutcome.OK if data.get("content") is not None else ModelOutcome.ERROR


class ModelParameters(ValueType):
    """Sampling parameters; None leaves the provider default."""

    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass")
    max_tokens: int | None = Field(default=None, ge=1, description="Completion token limit")
    stop: list[str] = Field(default_factory=list, description="Stop sequences")
    response_format: ResponseFormat = Field(
        default=ResponseFormat.TEXT, description="text, json_object or json_schema"
    )
    json_schema: dict[str, Any] | None = Field(
        default=None, description="The schema the answer must match, for json_schema"
    )

    @model_validator(mode="after")
    def _schema(self) -> ModelParameters:
        if self.response_format is ResponseFormat.JSON_SCHEMA and self.json_schema is None:
            raise ValueError("response_format=json_schema requires json_schema")
        return self


class BudgetHints(ValueType):
    """Limits the router honours when it picks a provider for this call."""

    max_cost_usd: Usd | None = Field(default=None, description="Refuse calls estimated above this")
    max_latency_ms: Millis | None = Field(default=None, description="Prefer faster providers")
    allow_cache: bool = Field(default=True, description="Whether a cached answer may be used")


@event("agentbus.model.requested.v1")
class ModelRequested(Event):
    """The planner asks the model-router for a chat completion."""

    step: StepRef = Field(description="Run, step and attempt the call belongs to")
    alias: Name = Field(description="Model alias resolved by the tenant's routing policy")
    messages: list[ChatMessage] = Field(min_length=1, description="The conversation, in order")
    parameters: ModelParameters = Field(
        default_factory=ModelParameters, description="Sampling parameters"
    )
    budget: BudgetHints = Field(default_factory=BudgetHints, description="Cost and latency hints")


@event("agentbus.model.responded.v1")
class ModelResponded(Event):
    """The model-router's answer to one request: content, or an error."""

    step: StepRef = Field(description="Echoed from the request")
    request_id: Identifier = Field(description="ce_id of the model request answered")
    alias: Name = Field(description="Echoed from the request")
    provider: Name | None = Field(default=None, description="Provider that answered, if any")
    model: str | None = Field(default=None, description="Provider's model name, if any")
    content: str | None = Field(default=None, description="Generated text; null on error")
    finish_reason: FinishReason | None = Field(
        default=None, description="Why generation stopped; null on error"
    )
    usage: TokenUsage = Field(
        default_factory=lambda: TokenUsage(prompt_tokens=0, completion_tokens=0),
        description="Tokens billed (zero for cache hits and errors)",
    )
    cost_usd: Usd = Field(default=Decimal(0), description="Cost charged for this call")
    latency_ms: Millis = Field(description="Wall-clock time to answer, including retries")
    cached: bool = Field(default=False, description="True when served from the response cache")
    error: ErrorInfo | None = Field(default=None, description="Set when no provider answered")
    # Declared after content: its default is derived from the fields validated before it.
    outcome: ModelOutcome = Field(
        default_factory=_derived_outcome,
        description=(
            "ok, error, budget_exceeded (error.code budget.exceeded) or rate_limited; "
            "absent means ok with content, error without"
        ),
    )

    @model_validator(mode="after")
    def _content_or_error(self) -> ModelResponded:
        if (self.content is None) == (self.error is None):
            raise ValueError("exactly one of content and error must be set")
        if (self.outcome is ModelOutcome.OK) != (self.content is not None):
            raise ValueError("outcome ok exactly when content is set")
        return self
