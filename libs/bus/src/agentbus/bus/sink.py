"""RecordSinks: raw records through an own idempotent producer, or through the FastStream broker."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode, Tracer

from agentbus.telemetry import context_from_traceparent
from contracts.envelope import headers_to_dict

from .dlq import DLQ_HEADER_PREFIX
from .partitioner import cached_key_partitioner
from .records import OutboundRecord, last_header
from .security import client_options
from .settings import BusSettings

__all__ = ["BrokerSink", "ProducerSink", "truncated_dead_letter"]

log = logging.getLogger("agentbus.bus.sink")

_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


class ProducerSink:
    """Publishes records exactly as given: key, value and headers, bytes in, bytes out.

    Its own producer (acks=all, idempotent, `max_request_size` from settings) adds no
    header, so dead letters keep their original headers byte for byte. The records of one
    trace sent to one topic in one call share a `<topic> publish` producer span in that
    trace (the trace their `ce_traceparent` names): OpenTelemetry's batch publish span,
    with `messaging.batch.message_count` when there are several, the record's partition
    and offset when there is one. A transaction's events usually share their trace, and a
    span costs about 25 us of CPU however many records it covers. A dead
    letter the DLQ topic refuses as too large is stored once more with its value cut to
    `dlq_truncated_value_bytes`, its size and sha256 in `dlq.value.*` headers (its
    coordinates are in `dlq.original.*`), so a poison record never stalls its partition.
    """

    def __init__(
        self,
        settings: BusSettings,
        *,
        tracer: Tracer | None = None,
        client_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.client_id = client_id or f"{settings.client_id}-producer"
        self.tracer = tracer or trace.get_tracer("agentbus.bus")
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    def new_producer(self) -> AIOKafkaProducer:
        """The producer this sink starts: durable, idempotent, secured like the consumers."""
        return AIOKafkaProducer(
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            max_request_size=self.settings.max_request_size,
            partitioner=cached_key_partitioner,
            **client_options(self.settings),
        )

    async def start(self) -> None:
        """Connect; `send` also connects on first use."""
        async with self._lock:
            if self._producer is None:
                producer = self.new_producer()
                await producer.start()
                self._producer = producer

    async def stop(self) -> None:
        """Flush and disconnect (a later `send` connects again)."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]:
        """Publish in order; (partition, offset) of each; raises if any was not stored."""
        if self._producer is None:
            await self.start()
        producer = self._producer
        assert producer is not None
        spans, alone = self._spans(records)
        sent: list[asyncio.Future[Any] | BaseException] = []
        results: list[tuple[int, int]] = []
        try:
            for record in records:
                try:
                    sent.append(await self._enqueue(producer, record))
                except _TOO_LARGE as exc:  # over max_request_size: refused before sending
                    sent.append(exc)
            for record, pending, span, single in zip(records, sent, spans, alone, strict=True):
                results.append(await self._stored(producer, record, pending, span, single))
        finally:
            for span in {id(span): span for span in spans}.values():
                span.end()
        return results

    async def _stored(
        self,
        producer: AIOKafkaProducer,
        record: OutboundRecord,
        pending: asyncio.Future[Any] | BaseException,
        span: Span,
        single: bool,
    ) -> tuple[int, int]:
        try:
            try:
                if isinstance(pending, BaseException):
                    raise pending
                metadata = await pending
            except _TOO_LARGE as exc:
                if not _is_dead_letter(record):
                    raise
                log.warning(
                    "dead letter too large for its topic; storing it truncated",
                    extra={"fields": {"topic": record.topic, "bytes": len(record.value or b"")}},
                )
                span.add_event("truncated", {"error": type(exc).__name__})
                keep = self.settings.dlq_truncated_value_bytes
                cut = truncated_dead_letter(record, keep=keep)
                metadata = await (await self._enqueue(producer, cut))
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        if single:  # a batch span names no one record's place
            span.set_attribute("messaging.destination.partition.id", str(metadata.partition))
            span.set_attribute("messaging.kafka.offset", metadata.offset)
        return metadata.partition, metadata.offset

    async def _enqueue(
        self, producer: AIOKafkaProducer, record: OutboundRecord
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await producer.send(
            record.topic, value=record.value, key=record.key, headers=list(record.headers)
        )
        return future

    def _spans(self, records: Sequence[OutboundRecord]) -> tuple[list[Span], list[bool]]:
        """One producer span per (topic, trace) of `records`: each record's, and whether it
        is the span's only record."""
        groups: dict[tuple[str, str | None], list[int]] = {}
        for index, record in enumerate(records):
            traceparent = last_header(record.headers, "ce_traceparent")
            groups.setdefault((record.topic, traceparent), []).append(index)
        spans: list[Span] = [INVALID_SPAN] * len(records)
        alone = [False] * len(records)
        for (topic, traceparent), members in groups.items():
            parent = (
                context_from_traceparent(traceparent) if traceparent else otel_context.get_current()
            )
            attributes: dict[str, str | int] = {
                "messaging.system": "kafka",
                "messaging.operation.type": "publish",
                "messaging.destination.name": topic,
            }
            if len(members) == 1:
                attributes["messaging.message.body.size"] = len(records[members[0]].value or b"")
            else:
                attributes["messaging.batch.message_count"] = len(members)
            span = self.tracer.start_span(
                f"{topic} publish", context=parent, kind=SpanKind.PRODUCER, attributes=attributes
            )
            for index in members:
                spans[index] = span
                alone[index] = len(members) == 1
        return spans, alone


def truncated_dead_letter(record: OutboundRecord, *, keep: int) -> OutboundRecord:
    """The dead letter with its value cut to `keep` bytes and dlq.value.* headers saying so."""
    value = record.value or b""
    p = DLQ_HEADER_PREFIX
    marks = [
        (f"{p}value.truncated", b"true"),
        (f"{p}value.size", str(len(value)).encode()),
        (f"{p}value.sha256", hashlib.sha256(value).hexdigest().encode()),
    ]
    return OutboundRecord(record.topic, record.key, value[:keep], [*record.headers, *marks])


def _is_dead_letter(record: OutboundRecord) -> bool:
    return any(name == f"{DLQ_HEADER_PREFIX}original.topic" for name, _ in record.headers)


class BrokerSink:
    """Publishes through the FastStream broker (which adds its own headers); kept for tests."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]:
        """Publish in order; raises if any record was not acknowledged."""
        pending = []
        for record in records:
            headers = headers_to_dict(record.headers)
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
        stored = await asyncio.gather(*pending)
        return [(m.partition, m.offset) for m in stored]
