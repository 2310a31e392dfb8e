"""The heart of the bus: records in, then each one handled, duplicate, skipped or dead-lettered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter
from opentelemetry.trace import Tracer

from agentbus.storage import DuplicateEventError, UnitOfWork, UnitOfWorkFactory
from contracts.envelope import Envelope, decode
from contracts.errors import ContractError

from .batches import BatchSettler
from .dlq import is_for_group
from .errors import UnexpectedEventTypeError
from .failures import DeadLetterer
from .group import GroupCommit
from .io import SETTLED, IoContext, IoHandler, idempotency_key
from .observed import Observed, observe
from .outcomes import Handler, Outcome, Route, log_duplicate
from .records import InboundRecord, last_header
from .relay import OutboxRelay
from .retry import AttemptsExhaustedError, run_with_retries
from .settings import RetryPolicy

__all__ = ["Handler", "Outcome", "Processor", "Route"]

log = logging.getLogger("agentbus.bus")


_DUPLICATE = object()
"""What the prepare phase returns for an event the group has already handled."""


class Processor:
    """Parses, deduplicates, handles with retries, and dead-letters what cannot be handled.

    `process` and `process_batch` return only when every record's fate is durable: its
    effects committed with its inbox entry, or its dead letter (and failed reply)
    acknowledged by the broker. They raise only when that could not be made durable, and
    then the record must be tried again and its offset must not be committed.
    """

    def __init__(
        self,
        *,
        topic: str,
        consumer_group: str,
        routes: Mapping[str, Route],
        uow_factory: UnitOfWorkFactory,
        relay: OutboxRelay,
        dead_letters: DeadLetterer,
        retry: RetryPolicy,
        handler_timeout_s: float = 60.0,
        group_commit_max: int = 200,
        meter: Meter | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.topic = topic
        self.consumer_group = consumer_group
        self.routes = routes
        self.uow_factory = uow_factory
        self.relay = relay
        self.dead_letters = dead_letters
        self.retry = retry
        self.handler_timeout_s = handler_timeout_s
        self.tracer = tracer or trace.get_tracer("agentbus.bus")
        # I/O handlers' short transactions, from records finishing together, commit together.
        self._batches = BatchSettler(self)
        self.group = GroupCommit(
            uow_factory, relay, max_batch=group_commit_max, timeout_s=handler_timeout_s
        )
        meter = meter or metrics.get_meter("agentbus.bus")
        self._records = meter.create_counter(
            "agentbus.bus.records", unit="{record}", description="records by final outcome"
        )
        self._retries = meter.create_counter(
            "agentbus.bus.retries", unit="{retry}", description="handler retries"
        )

    @property
    def batchable(self) -> bool:
        """True when every route is a short handler, so records can share a transaction."""
        return all(route.io is None for route in self.routes.values())

    def ignores(self, record: InboundRecord) -> bool:
        """True for a record of a type this consumer accepts and does not need."""
        event_type = last_header(record.headers, "ce_type")
        route = self.routes.get(event_type) if event_type is not None else None
        return route is not None and route.ignored

    async def process(self, record: InboundRecord) -> Outcome:
        """Bring one record to a final outcome, each in its own transaction(s)."""
        if self.ignores(record):
            self.count(Outcome.SKIPPED)
            return Outcome.SKIPPED
        with self.observe(record):
            outcome = await self.process_one(record)
        self.count(outcome)
        return outcome

    async def process_batch(self, records: Sequence[InboundRecord]) -> list[Outcome]:
        """Settle records of short handlers together (see `BatchSettler`)."""
        return await self._batches.settle(records)

    async def process_one(
        self, record: InboundRecord, *, first_error: BaseException | None = None
    ) -> Outcome:
        if not is_for_group(record.headers, self.consumer_group) or self.ignores(record):
            return Outcome.SKIPPED
        try:
            envelope, route = self.decode(record)
        except ContractError as exc:
            await self.dead_letters.dead_letter(record, exc, attempts=1)
            return Outcome.DEAD_LETTERED
        if route.declines(envelope):
            return Outcome.SKIPPED
        try:
            outcome, outbox_ids = await run_with_retries(
                lambda attempt: self._apply(envelope, route, record, attempt),
                self.retry,
                on_retry=self._note_retry,
                first_error=first_error,
            )
        except AttemptsExhaustedError as exc:
            await self.dead_letters.dead_letter(record, exc.last, attempts=exc.attempts)
            return Outcome.DEAD_LETTERED
        if outbox_ids:
            await self.relay.publish_committed(outbox_ids)
        return outcome

    def decode(self, record: InboundRecord) -> tuple[Envelope[Any], Route]:
        envelope = decode(record.headers, record.value)
        route = self.routes.get(envelope.type)
        if route is None:
            raise UnexpectedEventTypeError(
                f"{envelope.type!r} is not accepted on {record.topic!r}; "
                f"expected one of {sorted(self.routes)}"
            )
        return envelope, route

    async def _apply(
        self, envelope: Envelope[Any], route: Route, record: InboundRecord, attempt: int
    ) -> tuple[Outcome, list[int]]:
        if route.io is not None:
            return await self._apply_io(envelope, route.io, record, attempt)
        assert route.short is not None
        # A hung handler must not hold its record forever: the timeout cancels it, the
        # transaction rolls back, and TimeoutError counts as transient (retried, then DLQ).
        async with (
            asyncio.timeout(self.handler_timeout_s),
            self.uow_factory(envelope.tenantid) as uow,
        ):
            try:
                await self._claim(uow, envelope, record)
            except DuplicateEventError:
                return Outcome.DUPLICATE, []
            await route.short(envelope, uow)
            await uow.commit()
            return Outcome.HANDLED, uow.published_ids

    async def _apply_io(
        self, envelope: Envelope[Any], handler: IoHandler[Any, Any], record: InboundRecord, n: int
    ) -> tuple[Outcome, list[int]]:
        tenant = envelope.tenantid

        async def claim(uow: UnitOfWork, alone: bool) -> None:
            if alone:
                await self._claim(uow, envelope, record)  # DuplicateEventError if raced
            else:
                # In a shared transaction a raced duplicate fails the commit instead, and
                # the group retries each record alone.
                uow.claim_unchecked(
                    self.consumer_group,
                    envelope.id,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )

        async def check_and_prepare(uow: UnitOfWork, alone: bool) -> Any:
            if await uow.is_handled(self.consumer_group, envelope.id):
                return _DUPLICATE
            prepared = await handler.prepare(envelope, uow)
            if prepared is SETTLED:  # nothing to call: done in this transaction
                await claim(uow, alone)
            return prepared

        async with asyncio.timeout(self.handler_timeout_s):
            try:
                prepared = await self.group.run(tenant, check_and_prepare)
            except DuplicateEventError:
                return Outcome.DUPLICATE, []
            if prepared is _DUPLICATE:
                log_duplicate(record)
                return Outcome.DUPLICATE, []
            if prepared is SETTLED:
                return Outcome.HANDLED, []
            # No transaction is open here: the call may take seconds.
            key = idempotency_key(self.consumer_group, envelope.id)
            result = await handler.perform(
                prepared, IoContext(envelope, key, n, self.consumer_group)
            )

            async def claim_and_record(uow: UnitOfWork, alone: bool) -> None:
                await claim(uow, alone)
                await handler.record(envelope, result, uow)

            try:
                await self.group.run(tenant, claim_and_record)
            except DuplicateEventError:
                return Outcome.DUPLICATE, []
            return Outcome.HANDLED, []

    async def _claim(self, uow: UnitOfWork, envelope: Envelope[Any], record: InboundRecord) -> None:
        try:
            await uow.claim(
                self.consumer_group,
                envelope.id,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
        except DuplicateEventError:
            log_duplicate(record)
            raise

    def observe(self, record: InboundRecord) -> Observed:
        """Log context and a consumer span continuing the producer's trace."""
        return observe(self.tracer, self.consumer_group, record)

    def count(self, outcome: Outcome, records: int = 1) -> None:
        self._records.add(records, {"topic": self.topic, "outcome": outcome.value})

    def _note_retry(self, attempt: int, error: BaseException) -> None:
        self._retries.add(1, {"error": type(error).__name__})
        log.warning(
            "transient failure, retrying",
            extra={"fields": {"attempt": attempt, "error": f"{type(error).__name__}: {error}"}},
        )
