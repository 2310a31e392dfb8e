"""The heart of the bus: one record in, then exactly one of handled, duplicate or dead-lettered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import Meter

from agentbus.storage import DuplicateEventError, UnitOfWork, UnitOfWorkFactory
from agentbus.telemetry import bind_log_context
from contracts.envelope import Envelope, decode, headers_to_dict
from contracts.errors import ContractError

from .dlq import dead_letter_headers, dlq_topic
from .errors import UnexpectedEventTypeError
from .records import InboundRecord, OutboundRecord, RecordSink
from .relay import OutboxRelay
from .retry import AttemptsExhaustedError, run_with_retries
from .settings import RetryPolicy

__all__ = ["Handler", "Outcome", "Processor"]

Handler = Callable[[Envelope[Any], UnitOfWork], Awaitable[None]]
log = logging.getLogger("agentbus.bus")


class Outcome(StrEnum):
    """What became of a record; each is final, so its offset may be committed."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


class Processor:
    """Parses, deduplicates, handles with retries, and dead-letters what cannot be handled.

    `process` returns only when the record's fate is durable: its effects committed with
    its inbox entry, or its dead letter acknowledged by the broker. It raises only when
    that could not be made durable, and then the offset must not be committed.
    """

    def __init__(
        self,
        *,
        consumer_group: str,
        handler: Handler,
        uow_factory: UnitOfWorkFactory,
        sink: RecordSink,
        relay: OutboxRelay,
        retry: RetryPolicy,
        event_types: frozenset[str] | None = None,
        handler_timeout_s: float = 60.0,
        meter: Meter | None = None,
    ) -> None:
        self.consumer_group = consumer_group
        self.handler = handler
        self.uow_factory = uow_factory
        self.sink = sink
        self.relay = relay
        self.retry = retry
        self.event_types = event_types
        self.handler_timeout_s = handler_timeout_s
        meter = meter or metrics.get_meter("agentbus.bus")
        self._records = meter.create_counter(
            "agentbus.bus.records", unit="{record}", description="records by final outcome"
        )
        self._retries = meter.create_counter(
            "agentbus.bus.retries", unit="{retry}", description="handler retries"
        )

    async def process(self, record: InboundRecord) -> Outcome:
        """Bring one record to a final outcome."""
        # Ids straight from the headers, so even an undecodable record logs its tenant.
        attrs = headers_to_dict(record.headers)
        with bind_log_context(
            tenant_id=attrs.get("ce_tenantid"),
            run_id=attrs.get("ce_runid"),
            event_id=attrs.get("ce_id"),
        ):
            try:
                envelope = self._decode(record)
            except ContractError as exc:
                return await self._dead_letter(record, exc, attempts=1)
            try:
                outcome, outbox_ids = await run_with_retries(
                    lambda: self._apply(envelope, record),
                    self.retry,
                    on_retry=self._note_retry,
                )
            except AttemptsExhaustedError as exc:
                return await self._dead_letter(record, exc.last, attempts=exc.attempts)
            if outbox_ids:
                await self.relay.publish_committed(outbox_ids)
            self._records.add(1, {"topic": record.topic, "outcome": outcome.value})
            return outcome

    def _decode(self, record: InboundRecord) -> Envelope[Any]:
        envelope = decode(record.headers, record.value)
        if self.event_types is not None and envelope.type not in self.event_types:
            raise UnexpectedEventTypeError(
                f"{envelope.type!r} is not accepted on {record.topic!r}; "
                f"expected one of {sorted(self.event_types)}"
            )
        return envelope

    async def _apply(
        self, envelope: Envelope[Any], record: InboundRecord
    ) -> tuple[Outcome, list[int]]:
        # A hung handler must not hold its partition forever: the timeout cancels it, the
        # transaction rolls back, and TimeoutError counts as transient (retried, then DLQ).
        async with (
            asyncio.timeout(self.handler_timeout_s),
            self.uow_factory(envelope.tenantid) as uow,
        ):
            try:
                await uow.claim(
                    self.consumer_group,
                    envelope.id,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )
            except DuplicateEventError:
                log.info("duplicate event skipped", extra={"fields": {"offset": record.offset}})
                return Outcome.DUPLICATE, []
            await self.handler(envelope, uow)
            await uow.commit()
            return Outcome.HANDLED, uow.published_ids

    def _note_retry(self, attempt: int, error: BaseException) -> None:
        self._retries.add(1, {"error": type(error).__name__})
        log.warning(
            "transient failure, retrying",
            extra={"fields": {"attempt": attempt, "error": f"{type(error).__name__}: {error}"}},
        )

    async def _dead_letter(
        self, record: InboundRecord, error: BaseException, *, attempts: int
    ) -> Outcome:
        headers = dead_letter_headers(
            record, error, consumer_group=self.consumer_group, attempts=attempts
        )
        target = dlq_topic(record.topic)
        await self.sink.send([OutboundRecord(target, record.key, record.value, headers)])
        self._records.add(1, {"topic": record.topic, "outcome": Outcome.DEAD_LETTERED.value})
        log.error(
            "record dead-lettered",
            extra={
                "fields": {
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "dlq": target,
                    "attempts": attempts,
                    "error": f"{type(error).__name__}: {error}",
                }
            },
        )
        return Outcome.DEAD_LETTERED
