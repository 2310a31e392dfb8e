"""Kafka subscriptions: tool requests (I/O handler) and the approval topics (short handlers)."""

from __future__ import annotations

from agentbus.bus import Bus
from contracts.events.approval import ApprovalDecided, ApprovalRequested
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
    bus.consumer(topics.approval_requests, event_types=[ApprovalRequested.EVENT_TYPE])(
        on_approval_requested
    )
    bus.consumer(topics.approval_decisions, event_types=[ApprovalDecided.EVENT_TYPE])(
        on_approval_decided
    )
