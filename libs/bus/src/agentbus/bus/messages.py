"""How the bus turns an envelope into an outbox row: encoding, topic choice, trace stamping."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from agentbus.storage import EncodedMessage, UnitOfWorkFactory
from agentbus.telemetry import current_traceparent
from contracts.audit import with_trace_id
from contracts.envelope import Envelope, encode
from contracts.topics import topic_for_event

__all__ = ["encode_envelope", "unit_factory"]


def encode_envelope(envelope: Envelope[Any], topic: str | None) -> EncodedMessage:
    """The CloudEvents record of `envelope`, for `topic` or its type's catalogue topic."""
    if envelope.traceparent is None:
        # Stamp the handler's trace so the consumer of this event joins the same trace.
        envelope = envelope.model_copy(update={"traceparent": current_traceparent()})
    # An audit record built without a trace id gets the one the envelope now carries.
    envelope = with_trace_id(envelope)
    record = encode(envelope)
    return EncodedMessage(
        event_id=envelope.id,
        tenant_id=envelope.tenantid,
        topic=topic or topic_for_event(envelope.type).name,
        key=record.key,
        value=record.value,
        headers=list(record.headers),
    )


def unit_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    """Units of work over `engine` that publish and schedule contract envelopes."""
    return UnitOfWorkFactory(engine, encoder=encode_envelope)
