"""Kafka subscriptions: tool requests (I/O handler) and the approval topics (short handlers)."""

from __future__ import annotations

from agentbus.bus import Bus
from contracts.events.approval import (
    ApprovalCancelRequested,
    ApprovalDeadlineReached,
    ApprovalDecided,
    ApprovalRequested,
)
from contracts.events.request import RequestFailed
from contracts.events.tool import ToolRequested

from .approvals import on_approval_decided, on_approval_requested
from .handlers import ExecuteTool
from .settings import Topics

__all__ = ["subscribe"]


def subscribe(bus: Bus, execute: ExecuteTool, topics: Topics) -> None:
    """Register every consumer of the tool-executor on `bus`."""
    bus.io_consumer(
        topics.requests,
        execute,
        event_types=[ToolRequested.EVENT_TYPE],
        reply_topic="tool.results",
    )
    # The approval topics are the approval service's: the executor watches them for the
    # approvals of its tools, answers nothing there, and skips the types it has no use
    # for (withdrawals and deadline timers, failed replies) instead of dead-lettering them.
    bus.consumer(
        topics.approval_requests, event_types=[ApprovalRequested.EVENT_TYPE], replies=False
    )(on_approval_requested)
    bus.ignore(
        topics.approval_requests,
        event_types=[ApprovalCancelRequested.EVENT_TYPE, ApprovalDeadlineReached.EVENT_TYPE],
    )
    bus.consumer(
        topics.approval_decisions, event_types=[ApprovalDecided.EVENT_TYPE], replies=False
    )(on_approval_decided)
    bus.ignore(topics.approval_decisions, event_types=[RequestFailed.EVENT_TYPE])
