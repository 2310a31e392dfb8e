"""Usage events: metered model spend per tenant."""

from __future__ import annotations

from pydantic import Field

from ..base import Event
from ..registry import event
from ..types import Identifier, Name, StepRef, TokenUsage, Usd

__all__ = ["UsageRecorded"]


@event("agentbus.usage.recorded.v1")
class UsageRecorded(Event):
    """The model-router charged a tenant for one model call."""

    step: StepRef | None = Field(default=None, description="The step that made the call, if any")
    request_id: Identifier = Field(description="ce_id of the model request charged")
    alias: Name = Field(description="Model alias requested")
    provider: Name = Field(description="Provider that answered")
    model: str = Field(min_length=1, description="Provider's model name")
    usage: TokenUsage = Field(description="Prompt and completion tokens")
    cost_usd: Usd = Field(description="Cost in US dollars, from the price table")
    cached: bool = Field(default=False, description="True for cache hits (cost 0)")
    budget_period: str = Field(
        pattern=r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$",
        description="Budget period the spend counts against: YYYY-MM or YYYY-MM-DD",
    )
