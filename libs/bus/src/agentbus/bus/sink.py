"""RecordSink over the FastStream broker's idempotent, acks=all producer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context

from agentbus.telemetry import context_from_traceparent

from .records import OutboundRecord

__all__ = ["BrokerSink"]


class BrokerSink:
    """Enqueues records in order, then waits until the broker has acknowledged them all."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def send(self, records: Sequence[OutboundRecord]) -> None:
        """Publish in order; raises if any record was not acknowledged."""
        pending = []
        for record in records:
            headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
            traceparent = headers.get("ce_traceparent")
            # Publish inside the trace of the event's producer, so one run is one trace.
            token = (
                otel_context.attach(context_from_traceparent(traceparent)) if traceparent else None
            )
            try:
                pending.append(
                    await self.broker.publish(
                        record.value,
                        record.topic,
                        key=record.key,
                        headers=headers,
                        no_confirm=True,
                    )
                )
            finally:
                if token is not None:
                    otel_context.detach(token)
        await asyncio.gather(*pending)
