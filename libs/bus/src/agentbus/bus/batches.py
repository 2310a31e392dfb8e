"""Short handlers' records settled together: one transaction per tenant per poll batch."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contracts.envelope import Envelope
from contracts.errors import ContractError

from .dlq import is_for_group
from .outcomes import Outcome, Route, log_duplicate
from .records import InboundRecord

if TYPE_CHECKING:
    from .processor import Processor

__all__ = ["BatchSettler"]

log = logging.getLogger("agentbus.bus")


@dataclass(frozen=True)
class _Item:
    """A decoded record of a batch and where it stands in the batch's input."""

    index: int
    record: InboundRecord
    envelope: Envelope[Any]
    route: Route


class _HandlerFailedError(Exception):
    """A handler raised inside a shared transaction, at `position` of the batch."""

    def __init__(self, position: int, error: Exception) -> None:
        super().__init__(str(error))
        self.position = position
        self.error = error


class BatchSettler:
    """Settles a poll's records of short handlers with as few commits as the handlers allow."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    async def settle(self, records: Sequence[InboundRecord]) -> list[Outcome]:
        """Settle records of short handlers in one transaction per tenant, in offset order.

        When a handler fails, the records before it are settled in a transaction of
        their own, the failing one goes on alone (retries from attempt 2, then the dead
        letter), and the batch resumes after it. Any other failure of the shared
        transaction (a record handled before: a redelivery, or a duplicate that raced in
        from a replica) falls back to one record at a time, which skips it.
        """
        outcomes: dict[int, Outcome] = {}
        groups: dict[str, list[_Item]] = {}
        for index, record in enumerate(records):
            if not is_for_group(record.headers, self.processor.consumer_group):
                outcomes[index] = Outcome.SKIPPED
                continue
            if self.processor.ignores(record):
                outcomes[index] = Outcome.SKIPPED
                self.processor.count(Outcome.SKIPPED)
                continue
            try:
                envelope, route = self.processor.decode(record)
            except ContractError:
                outcomes[index] = await self.processor.process(
                    record
                )  # dead-letters with its cause
                continue
            if route.declines(envelope):
                outcomes[index] = Outcome.SKIPPED
                self.processor.count(Outcome.SKIPPED)
                continue
            groups.setdefault(envelope.tenantid, []).append(_Item(index, record, envelope, route))
        for tenant, items in groups.items():
            outcomes.update(await self._settle_group(tenant, items))
        return [outcomes[i] for i in range(len(records))]

    async def _settle_group(self, tenant: str, items: list[_Item]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        while items:
            try:
                settled = await self._apply_batch(tenant, items)
            except _HandlerFailedError as failed:
                if failed.position:
                    outcomes.update(await self._settle_group(tenant, items[: failed.position]))
                item = items[failed.position]
                with self.processor.observe(item.record):
                    if await self._handled_before(tenant, item):
                        # A redelivery whose handler failed on state it had already
                        # changed: a duplicate, never a failure of its own.
                        log_duplicate(item.record)
                        outcome = Outcome.DUPLICATE
                    else:
                        outcome = await self.processor.process_one(
                            item.record, first_error=failed.error
                        )
                outcomes[item.index] = outcome
                self.processor.count(outcome)
                items = items[failed.position + 1 :]
                continue
            except Exception as exc:
                log.info(
                    "batch transaction failed; processing its records one at a time",
                    extra={"fields": {"records": len(items), "error": type(exc).__name__}},
                )
                for item in items:
                    outcomes[item.index] = await self.processor.process(item.record)
                return outcomes
            outcomes.update(settled)
            # One measurement per outcome, not per record: each costs attributes and an
            # exemplar, and a batch holds hundreds of records.
            for outcome, records in Counter(settled.values()).items():
                self.processor.count(outcome, records)
            return outcomes
        return outcomes

    async def _handled_before(self, tenant: str, item: _Item) -> bool:
        async with self.processor.uow_factory(tenant) as uow:
            return await uow.is_handled(self.processor.consumer_group, item.envelope.id)

    async def _apply_batch(self, tenant: str, items: list[_Item]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        async with (
            asyncio.timeout(self.processor.handler_timeout_s),
            self.processor.uow_factory(tenant) as uow,
        ):
            # No inbox look-up first: a record handled before (a redelivery) makes the
            # inbox INSERT fail at commit, and the records then go one at a time, which
            # skips it. Redeliveries are rare; a query per batch on every hop is not.
            done: set[str] = set()
            for position, item in enumerate(items):
                if item.envelope.id in done:
                    log_duplicate(item.record)
                    outcomes[item.index] = Outcome.DUPLICATE
                    continue
                done.add(item.envelope.id)
                record = item.record
                with self.processor.observe(record):
                    uow.claim_unchecked(
                        self.processor.consumer_group,
                        item.envelope.id,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                    )
                    assert item.route.short is not None
                    try:
                        await item.route.short(item.envelope, uow)
                    except Exception as exc:
                        raise _HandlerFailedError(position, exc) from exc
                outcomes[item.index] = Outcome.HANDLED
            # A duplicate that a replica committed meanwhile fails here on the inbox key.
            await uow.commit()
        if uow.published_ids:
            await self.processor.relay.publish_committed(uow.published_ids)
        return outcomes
