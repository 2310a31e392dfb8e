"""AgentOps DLQ counts read from the `<topic>.dlq` topics themselves.

A dead letter keeps its original CloudEvents headers (ce_tenantid, ce_runid, ce_type) and
gains the bus's dlq.* headers (original topic, error class, when). The reader consumes every
catalogue topic's DLQ as raw records in its own consumer group, stores one row per dead
letter it can attribute to a tenant (to a workflow version through its payload or its run),
and keeps each DLQ topic's record count from its end and beginning offsets, attributable or
not (a record with no headers at all still counts there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from agentbus.bus import BusSettings
from agentbus.bus.dlq import DLQ_HEADER_PREFIX
from agentbus.bus.security import client_options
from agentbus.storage import UnitOfWork, UnitOfWorkFactory
from contracts.envelope import decode
from contracts.topics import CATALOGUE, dlq_name
from contracts.types import WorkflowRef

from .evaluations import Topics
from .settings import DeadLetterSettings
from .store import DeadLetterRepository, OpsRunRepository
from .tables import DeadLetterRow

__all__ = ["DeadLetterReader", "Letter"]

log = logging.getLogger("evaluation.dead_letters")

OnLetters = Callable[[UnitOfWork, list[DeadLetterRow]], Awaitable[None]]
Published = Callable[[Sequence[int]], Awaitable[None]]


class Letter:
    """What a dead letter's headers (and, when it decodes, its payload) say about it."""

    def __init__(self, record: ConsumerRecord[bytes, bytes]) -> None:
        headers: dict[str, str] = {}
        for key, value in record.headers or ():
            with contextlib.suppress(UnicodeDecodeError, AttributeError):
                headers[key] = value.decode()  # the last value of a name wins
        self.headers = headers
        self.record = record
        # Headers are whatever the producer sent: an id that cannot be a row key is dropped
        # (the record still counts on its topic) rather than failing every later batch.
        self.tenant = _id(headers.get("ce_tenantid"), 255)
        self.run_id = _id(headers.get("ce_runid"), 256)
        self.event_type = headers.get("ce_type") or None
        self.workflow, self.version = _workflow_of(record)

    def row(self, tenant_id: str) -> DeadLetterRow:
        """Its row (the record's coordinates are its key: storing twice changes nothing)."""
        p = DLQ_HEADER_PREFIX
        return DeadLetterRow(
            topic=self.record.topic,
            partition=self.record.partition,
            offset=self.record.offset,
            tenant_id=tenant_id,
            run_id=self.run_id,
            workflow=self.workflow,
            version=self.version,
            original_topic=self.headers.get(f"{p}original.topic", self.record.topic)[:255],
            event_type=self.event_type[:255] if self.event_type else None,
            error_class=self.headers.get(f"{p}error.class", "unknown")[:255],
            failed_at=_when(self.headers.get(f"{p}failed.at"), self.record.timestamp),
        )


class DeadLetterReader:
    """Background reader of every DLQ topic: rows per tenant, record counts per topic."""

    def __init__(
        self,
        bus: BusSettings,
        settings: DeadLetterSettings,
        topics: Topics,
        uows: UnitOfWorkFactory,
        published: Published,
        on_letters: OnLetters,
        meter: Meter,
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.topics = topics
        self.uows = uows
        self.published = published
        self.on_letters = on_letters
        self.totals: dict[str, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        meter.create_observable_gauge(
            "evaluation.agentops.dlq.records",
            callbacks=[self._observe],
            unit="{record}",
            description="records on each DLQ topic (end minus beginning offsets)",
        )

    @property
    def pattern(self) -> str:
        """Every catalogue topic's DLQ under this deployment's prefix."""
        names = "|".join(re.escape(dlq_name(spec.name)) for spec in CATALOGUE)
        return f"^{re.escape(self.topics.prefix)}({names})$"

    async def start(self) -> None:
        """Join the reader's group and read in the background."""
        if not self.settings.enabled:
            return
        self._consumer = AIOKafkaConsumer(
            group_id=f"{self.bus.consumer_group}{self.settings.group_suffix}",
            client_id=f"{self.bus.client_id}-dlq",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=int(self.settings.metadata_max_age_s * 1000),
            **client_options(self.bus),
        )
        self._consumer.subscribe(pattern=self.pattern)
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="evaluation-dlq-reader")

    async def stop(self) -> None:
        """Stop reading (stored rows are committed; their offsets with them or after)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _run(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        counted_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                batch = await consumer.getmany(
                    timeout_ms=int(self.settings.poll_s * 1000), max_records=500
                )
                records = [r for part in batch.values() for r in part]
                if records:
                    await self.store(records)
                    await consumer.commit()  # after the rows: a crash re-reads, never skips
                if records or loop.time() - counted_at >= self.settings.count_interval_s:
                    await self.count(consumer)
                    counted_at = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never crash the service over a DLQ record; read it again after a pause.
                log.warning("reading dead letters failed; trying again", exc_info=True)
                await asyncio.sleep(self.settings.poll_s)

    async def store(self, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        """One transaction per tenant: new rows, then the tenant's DLQ alert rules."""
        by_tenant: dict[str, list[Letter]] = defaultdict(list)
        for record in records:
            letter = Letter(record)
            if letter.tenant is not None:
                by_tenant[letter.tenant].append(letter)
        for tenant, letters in by_tenant.items():
            async with self.uows(tenant) as uow:
                repo = DeadLetterRepository(uow)
                added: list[DeadLetterRow] = []
                for letter in letters:
                    key = (letter.record.topic, letter.record.partition, letter.record.offset)
                    if await repo.get(*key) is not None:
                        continue
                    row = letter.row(tenant)
                    if row.workflow is None and row.run_id is not None:
                        run = await OpsRunRepository(uow).get(row.run_id)
                        if run is not None:
                            row.workflow, row.version = run.workflow, run.version
                    added.append(repo.add(row))
                if added:
                    await uow.session.flush()
                    await self.on_letters(uow, added)
                await uow.commit()
                if uow.published_ids:
                    await self.published(uow.published_ids)

    async def count(self, consumer: AIOKafkaConsumer) -> None:
        """Records on each assigned DLQ partition, summed per topic."""
        assigned = list(consumer.assignment())
        if not assigned:
            return
        ends = await consumer.end_offsets(assigned)
        begins = await consumer.beginning_offsets(assigned)
        totals: dict[str, int] = defaultdict(int)
        for tp in assigned:
            totals[tp.topic] += max(0, ends.get(tp, 0) - begins.get(tp, 0))
        self.totals = dict(totals)

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        for topic, records in self.totals.items():
            yield Observation(records, {"topic": topic})


def _workflow_of(record: ConsumerRecord[bytes, bytes]) -> tuple[str | None, str | None]:
    # Only a dead letter that still decodes names its workflow; a poison one is attributed
    # through its run (ce_runid), or to its tenant alone.
    try:
        data: Any = decode(list(record.headers or ()), record.value or b"").data
    except Exception:
        return None, None
    workflow = getattr(data, "workflow", None)
    if isinstance(workflow, WorkflowRef):
        return workflow.name, workflow.version
    if isinstance(workflow, str):
        return workflow, getattr(data, "workflow_version", None)
    return None, None


def _id(value: str | None, longest: int) -> str | None:
    if not value or len(value) > longest or any(c.isspace() for c in value):
        return None
    return value


def _when(header: str | None, timestamp_ms: int | None) -> datetime:
    if header:
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(header)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if timestamp_ms:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return datetime.now(UTC)
