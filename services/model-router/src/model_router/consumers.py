"""Kafka subscriptions of the model-router: model.requests through the I/O handler shape."""

from __future__ import annotations

from agentbus.bus import Bus
from contracts.events.model import ModelRequested

from .handlers import CallModel
from .service import RouterService

__all__ = ["register_consumers"]


def register_consumers(
    bus: Bus, service: RouterService, *, request_topic: str, reply_topic: str
) -> None:
    """Consume model requests; a dead-lettered one gets a failed reply on the reply topic."""
    bus.io_consumer(
        request_topic,
        CallModel(service, reply_topic=reply_topic),
        event_types=[ModelRequested.EVENT_TYPE],
        reply_topic=reply_topic,
    )
