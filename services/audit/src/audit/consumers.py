"""Kafka subscription: the audit topic into the chain, through the bus runtime."""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import Meter

from agentbus.bus import Bus
from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope

from .domain import AUDIT_EVENT_TYPE
from .handlers import append_record

__all__ = ["register_consumers"]


def register_consumers(bus: Bus, topic: str, meter: Meter) -> None:
    """Register the audit-record handler on `topic` (anything else there is dead-lettered)."""
    appended = meter.create_counter(
        "audit.records.appended", unit="{record}", description="records linked into a chain"
    )

    async def on_record(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        await append_record(envelope, uow)
        # Counted when linked; a rolled-back batch is retried and counted again (rare).
        appended.add(1, {"tenant": envelope.tenantid})

    bus.consumer(topic, event_types=[AUDIT_EVENT_TYPE])(on_record)
