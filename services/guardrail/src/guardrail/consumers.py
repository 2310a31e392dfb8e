"""Kafka wiring: guardrail.requests in, verdicts (and failed replies) out."""

from __future__ import annotations

from agentbus.bus import Bus
from contracts.topics import topic

from .handlers import Checker
from .settings import GuardrailTopics

__all__ = ["REQUEST_TYPES", "register_consumers"]

REQUEST_TYPES = frozenset(topic("guardrail.requests").event_types)


def register_consumers(bus: Bus, checker: Checker, topics: GuardrailTopics) -> None:
    """The check is CPU-only, so it runs as a one-transaction consumer."""
    bus.consumer(topics.requests, event_types=REQUEST_TYPES, reply_topic=topics.verdicts)(
        checker.on_request
    )
