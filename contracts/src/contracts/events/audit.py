"""Audit events: one record per security- or compliance-relevant action."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from ..base import Event
from ..registry import event
from ..types import Actor, Identifier

__all__ = ["AuditOutcome", "AuditRecorded"]


class AuditOutcome(StrEnum):
    """How the audited action ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DENIED = "denied"


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
