"""Kafka subscriptions: tool requests (I/O handler) and the approval topics (short handlers)."""

from __future__ import annotations

from agentbus.bus import Bus

from .approvals import on_approval_decided, on_approval_requested
from .handlers import ExecuteTool

__all__ = ["subscribe"]


def subscribe(bus: Bus, execute: ExecuteTool) -> None:
    """Register every consumer of the tool-executor on `bus`."""
    bus.io_consumer("tool.requests", execute)
    bus.consumer("approval.requests")(on_approval_requested)
    bus.consumer("approval.decisions")(on_approval_decided)
