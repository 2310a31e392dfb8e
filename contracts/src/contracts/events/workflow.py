"""Workflow-definition lifecycle events for the audit trail, on `workflows.events`.

A definition moves drafted -> submitted -> approved -> published -> deprecated. Each
transition is its own event type (as for runs) so the schema requires exactly its data.
The Kafka key is the workflow name, so one definition's history stays in order.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from ..base import Event
from ..registry import event
from ..types import Actor, ContentHash, Name, Version

__all__ = [
    "WorkflowApproved",
    "WorkflowDeprecated",
    "WorkflowDrafted",
    "WorkflowEvent",
    "WorkflowPublished",
    "WorkflowSubmitted",
]


class WorkflowEvent(Event):
    """Fields every workflow-definition lifecycle event carries."""

    name: Name = Field(description="Workflow name; also the Kafka key")
    version: Version = Field(description="Version of the definition")
    content_hash: ContentHash = Field(description="sha256 of the canonical definition")
    actor: Actor = Field(description="Who made this transition")
    occurred_at: AwareDatetime = Field(description="When the transition happened")

    def partition_key(self) -> str | None:
        """The workflow name: one definition's lifecycle stays on one partition, in order."""
        return self.name


@event("agentbus.workflow.drafted.v1")
class WorkflowDrafted(WorkflowEvent):
    """A new definition version was drafted (not yet runnable)."""


@event("agentbus.workflow.submitted.v1")
class WorkflowSubmitted(WorkflowEvent):
    """A draft was submitted for review."""


@event("agentbus.workflow.approved.v1")
class WorkflowApproved(WorkflowEvent):
    """A reviewer approved a submitted definition."""

    reviewer: Actor = Field(description="The reviewer who approved it (never its author)")


@event("agentbus.workflow.published.v1")
class WorkflowPublished(WorkflowEvent):
    """An approved definition was published: new tasks may run it."""

    quality_gate: dict[str, Any] | None = Field(
        default=None, description="Evaluation result the publication passed (a reference)"
    )


@event("agentbus.workflow.deprecated.v1")
class WorkflowDeprecated(WorkflowEvent):
    """A published definition was deprecated: no new runs; running ones finish."""
