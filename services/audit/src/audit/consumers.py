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

_LINKED = "audit.records.linked"
"""uow.stash key: how many records this transaction linked, counted at commit."""


def register_consumers(bus: Bus, topic: str, meter: Meter) -> None:
    """Register the audit-record handler on `topic` (anything else there is dead-lettered)."""
    appended = meter.create_counter(
        "audit.records.appended", unit="{record}", description="records linked into a chain"
    )

    async def on_record(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        await append_record(envelope, uow)
        # Counted once per transaction when it commits: a measurement costs about as much
        # as linking a record (attributes, an exemplar of the current span), and a batch
        # links hundreds; a rolled-back batch counts nothing.
        linked = uow.stash.get(_LINKED)
        if linked is None:
            linked = uow.stash[_LINKED] = [0]
            tenant = {"tenant": uow.tenant_id}
            uow.after_commit(lambda: appended.add(linked[0], tenant))
        linked[0] += 1

    bus.consumer(topic, event_types=[AUDIT_EVENT_TYPE])(on_record)
