"""The failed reply the bus publishes when a request that expects a reply is dead-lettered.

One event type for every request kind (guardrail, model, tool, approval): the runtime
does not know each domain's reply model, and a waiting planner only needs the request id,
the step, the cause and where the dead letter lies. It rides on every reply topic, so a
publisher must name the topic (see `contracts.topics.REPLY_TOPICS`).
"""

from __future__ import annotations

from pydantic import Field

from ..base import Event
from ..registry import event
from ..types import ErrorInfo, Identifier, StepRef, ValueType

__all__ = ["DeadLetterRef", "RequestFailed"]


class DeadLetterRef(ValueType):
    """Where a dead letter lies and where its original record was."""

    topic: str = Field(
        min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$", description="DLQ topic"
    )
    partition: int = Field(ge=0, description="Partition of the dead letter")
    offset: int = Field(ge=0, description="Offset of the dead letter")
    original_topic: str = Field(
        min_length=1,
        max_length=249,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Topic the request was consumed from",
    )
    original_partition: int = Field(ge=0, description="Partition of the original request")
    original_offset: int = Field(ge=0, description="Offset of the original request")


@event("agentbus.request.failed.v1")
class RequestFailed(Event):
    """A request was dead-lettered: the reply its sender waits for will never come."""

    request_id: Identifier = Field(description="ce_id of the dead-lettered request")
    request_type: str = Field(
        min_length=1, max_length=256, description="ce_type of the dead-lettered request"
    )
    step: StepRef | None = Field(
        default=None, description="The request's step, when its body could be parsed"
    )
    error: ErrorInfo = Field(
        description="code request.dead_lettered (or more specific); message is the cause"
    )
    dead_letter: DeadLetterRef = Field(description="Coordinates of the dead letter to redrive")
