"""Kafka subscriptions of the model-router: model.requests through the I/O handler shape."""

from __future__ import annotations

from agentbus.bus import Bus

from .handlers import REPLY_TOPIC, CallModel
from .service import RouterService

__all__ = ["REQUEST_TOPIC", "register_consumers"]

REQUEST_TOPIC = "model.requests"


def register_consumers(bus: Bus, service: RouterService) -> None:
    """Consume model requests; a dead-lettered one gets a failed reply on model.responses."""
    bus.io_consumer(REQUEST_TOPIC, CallModel(service), reply_topic=REPLY_TOPIC)
