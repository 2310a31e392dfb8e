"""Kafka subscription: the audit topic into the chain, through the bus runtime."""

from __future__ import annotations

from agentbus.bus import Bus

from .domain import AUDIT_EVENT_TYPE
from .handlers import append_record

__all__ = ["register_consumers"]


def register_consumers(bus: Bus, topic: str) -> None:
    """Register the audit-record handler on `topic` (anything else there is dead-lettered)."""
    bus.consumer(topic, event_types=[AUDIT_EVENT_TYPE])(append_record)
