"""Replay the audit topic into a fresh store or an export: deterministic, side-effect free."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from pydantic import ValidationError

from contracts.events.audit import AuditRecorded

from .chain import GENESIS, Chain, Checkpoint, Link, entry_parts
from .domain import AUDIT_EVENT_TYPE, IndexedFields, indexed_fields, with_trace_id
from .reader import TopicWindow, Window, locate, read_window
from .replay_workers import Prepared, WorkerJob, prepared_stream
from .signing import CheckpointSigner
from .sinks import ReplaySink
from .verify_chunks import default_workers

__all__ = ["ReplayFilter", "ReplayStats", "idle_cores", "replay"]

_TYPE = AUDIT_EVENT_TYPE.encode()
_TRACE = "ce_traceparent"
# Below this many records in the window, starting worker processes costs more than it saves.
MIN_PARALLEL_RECORDS = 20_000
_REQUIRED = frozenset(("actor", "action", "resource_type", "resource_id", "outcome", "occurred_at"))


class RejectedRecordError(ValueError):
    """A record on the audit topic that the audit service would not accept."""


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which records to keep, besides the time window."""

    tenant_id: str | None = None
    run_id: str | None = None
    strict: bool = False


@dataclass
class ReplayStats:
    """What a replay did."""

    scanned: int = 0
    written: int = 0
    rejected: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    worker_cpu_seconds: list[float] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    rejections: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Records scanned per second."""
        return self.scanned / self.seconds if self.seconds else 0.0

    @property
    def busiest_cpu_seconds(self) -> float:
        """CPU time of the busiest process: the wall time the replay needs on free cores."""
        return max([self.cpu_seconds, *self.worker_cpu_seconds])


def parse(
    record: ConsumerRecord[Any, Any], headers: dict[str, bytes], strict: bool
) -> tuple[str, str, str, str | None, str, dict[str, Any]]:
    """(tenant, event id, source, run id, time, data) of one record, else RejectedRecordError.

    A structural check by default (CloudEvents headers, a JSON object with the required
    fields); `strict` validates the data against the AuditRecorded contract as well.
    """
    if headers.get("ce_type") != _TYPE or headers.get("ce_specversion") != b"1.0":
        raise RejectedRecordError(f"offset {record.offset}: not an {AUDIT_EVENT_TYPE} CloudEvent")
    event_id, source = headers.get("ce_id"), headers.get("ce_source")
    tenant = headers.get("ce_tenantid")
    if not event_id or not source or not tenant:
        raise RejectedRecordError(f"offset {record.offset}: missing ce_id, ce_source or tenant")
    try:
        data = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        raise RejectedRecordError(f"offset {record.offset}: value is not JSON") from exc
    if type(data) is not dict or not data.keys() >= _REQUIRED:
        raise RejectedRecordError(f"offset {record.offset}: not an audit record")
    if strict:
        try:
            AuditRecorded.model_validate(data)
        except ValidationError as exc:
            raise RejectedRecordError(
                f"offset {record.offset}: {exc.error_count()} errors"
            ) from exc
    raw_time, run, trace = headers.get("ce_time"), headers.get("ce_runid"), headers.get(_TRACE)
    if trace is not None and data.get("trace_id") is None:
        with_trace_id(data, trace.decode())
    return (
        tenant.decode(),
        event_id.decode(),
        source.decode(),
        run.decode() if run else None,
        _normal_time(raw_time.decode()) if raw_time else _kafka_time(record.timestamp),
        data,
    )


def _normal_time(text: str) -> str:
    """The time as the live consumer writes it: parsed, then `isoformat()`."""
    # Contract producers already send isoformat() in UTC; parsing it again would be the
    # costliest step of a replay, so only other shapes are parsed and rewritten.
    if text.endswith("+00:00") and (len(text) == 25 or (len(text) == 32 and text[19] == ".")):
        return text
    return datetime.fromisoformat(text).isoformat()


def _kafka_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _consumer(bootstrap: str, config: dict[str, Any]) -> AIOKafkaConsumer:
    # No group: nothing is committed, no other consumer's position moves, no rebalance.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        **config,
    )


async def replay(
    bootstrap: str,
    window: Window,
    sink: ReplaySink,
    *,
    where: ReplayFilter = ReplayFilter(),
    signer: CheckpointSigner | None = None,
    on_total: Callable[[int], None] | None = None,
    on_fetched: Callable[[int], None] | None = None,
    consumer_config: dict[str, Any] | None = None,
    workers: int | None = None,
) -> ReplayStats:
    """Rebuild every tenant's chain from the window into `sink`; sign heads with `signer`.

    Windows of at least MIN_PARALLEL_RECORDS records on several partitions are read and
    prepared by `workers` processes (default: one per idle core); the output is the same.
    """
    stats = ReplayStats()
    config = dict(consumer_config or {})
    run = _Run(
        bootstrap, config, window, sink, where, stats, on_fetched,
        idle_cores() if workers is None else workers,
    )  # fmt: skip
    with _fewer_collections():
        return await run.execute(signer, on_total)


def idle_cores() -> int:
    """Cores not kept busy by other work (by the 1-minute load average), at least 1."""
    # Workers cost about a third more CPU than one process: they pay off on idle cores
    # and only add contention on a machine that is already saturated.
    cores = default_workers()
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores
    return max(1, min(cores, round(cores - load)))


@contextmanager
def _fewer_collections() -> Iterator[None]:
    # A replay allocates a few short-lived dicts per record while the fetch buffers hold
    # tens of thousands of records: with the default thresholds the cyclic collector
    # re-scans those buffers constantly (a third of the CPU). Nothing here makes cycles.
    before = gc.get_threshold()
    gc.set_threshold(200_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class _Run:
    """One replay: where it reads, what it keeps, where it writes."""

    bootstrap: str
    config: dict[str, Any]
    window: Window
    sink: ReplaySink
    where: ReplayFilter
    stats: ReplayStats
    on_fetched: Callable[[int], None] | None
    workers: int
    chain: Chain = field(default_factory=Chain)
    times: dict[str, str] = field(default_factory=dict)

    async def execute(
        self, signer: CheckpointSigner | None, on_total: Callable[[int], None] | None
    ) -> ReplayStats:
        started, cpu = time.perf_counter(), time.process_time()
        consumer = _consumer(self.bootstrap, self.config)
        await consumer.start()
        try:
            offsets: TopicWindow = await locate(consumer, self.window)
            if on_total is not None:
                on_total(offsets.total)
            active = sum(1 for p in offsets.start if offsets.start[p] < offsets.end[p])
            parallel = min(self.workers, active) > 1 and offsets.total >= MIN_PARALLEL_RECORDS
            if not parallel:
                await self._one_process(consumer, offsets)
        finally:
            await consumer.stop()
        if parallel:
            await self._workers(offsets)
        marks = _sign(self.chain, self.times, signer)
        await self.sink.finish(dict(self.chain.heads), marks)
        self.stats.heads = dict(self.chain.heads)
        self.stats.seconds = time.perf_counter() - started
        self.stats.cpu_seconds = time.process_time() - cpu
        return self.stats

    async def _one_process(self, consumer: AIOKafkaConsumer, offsets: TopicWindow) -> None:
        stats, sink = self.stats, self.sink
        window = read_window(consumer, self.window, offsets, on_fetched=self.on_fetched)
        async for records in window:
            stats.scanned += len(records)
            links, fields, ids = _link_all(
                records, self.where, self.chain, self.times, stats, sink.needs_fields
            )
            await sink.add_many(links, fields, ids)
            stats.written += len(links)

    async def _workers(self, offsets: TopicWindow) -> None:
        stats, where, with_fields = self.stats, self.where, self.sink.needs_fields
        job = WorkerJob(
            window=self.window,
            offsets=offsets,
            open_consumer=lambda: _consumer(self.bootstrap, self.config),
            prepare=lambda records: prepare(records, where, with_fields),
        )

        def on_batch(scanned: int, fetched: int, rejected: int, reasons: list[str]) -> None:
            stats.scanned += scanned
            stats.rejected += rejected
            stats.rejections.extend(reasons[: 20 - len(stats.rejections)])
            if self.on_fetched is not None:
                self.on_fetched(fetched)

        done = stats.worker_cpu_seconds.append
        async for payloads in prepared_stream(job, self.workers, on_batch, done):
            links, fields, ids = _link_prepared(payloads, self.chain, self.times)
            await self.sink.add_many(links, fields, ids)
            stats.written += len(links)


def _link_all(
    records: list[ConsumerRecord[Any, Any]],
    where: ReplayFilter,
    chain: Chain,
    times: dict[str, str],
    stats: ReplayStats,
    with_fields: bool,
) -> tuple[list[Link], list[IndexedFields | None], list[str]]:
    """Filter, check and link a list of records (the replay's hot loop, kept flat)."""
    tenant = where.tenant_id.encode() if where.tenant_id else None
    run = where.run_id.encode() if where.run_id else None
    heads = chain.heads
    links: list[Link] = []
    fields: list[IndexedFields | None] = []
    ids: list[str] = []
    strict, event_type = where.strict, AUDIT_EVENT_TYPE
    for record in records:
        headers = dict(record.headers)
        if tenant is not None and headers.get("ce_tenantid") != tenant:
            continue
        if run is not None and headers.get("ce_runid") != run:
            continue
        try:
            owner, event_id, source, run_id, when, data = parse(record, headers, strict)
        except RejectedRecordError as exc:
            stats.rejected += 1
            if len(stats.rejections) < 20:
                stats.rejections.append(str(exc))
            continue
        seq, prev = heads.get(owner, (0, GENESIS))
        seq += 1
        head, tail = entry_parts(owner, event_id, event_type, source, when, run_id, data)
        # with_seq without its range check: a per-tenant counter never nears 2**53.
        body = b"%b%d%b" % (head, seq, tail)
        digest = sha256(prev.encode() + body).hexdigest()
        heads[owner] = (seq, digest)
        times[owner] = when
        links.append(Link(owner, seq, prev, digest, body))
        fields.append(indexed_fields(data, run_id) if with_fields else None)
        ids.append(event_id)
    return links, fields, ids


# (tenant, event id, time, entry before seq, entry after seq, query fields)
Payload = tuple[str, str, str, bytes, bytes, IndexedFields | None]


def prepare(
    records: list[ConsumerRecord[Any, Any]], where: ReplayFilter, with_fields: bool
) -> tuple[list[Prepared], int, list[str]]:
    """Filter, check and canonicalise records (a worker's half of `_link_all`).

    Every record yields an item (None as payload when skipped or rejected): the merge
    of the workers' streams needs each record's place. Also the rejected count and the
    first reasons.
    """
    tenant = where.tenant_id.encode() if where.tenant_id else None
    run = where.run_id.encode() if where.run_id else None
    strict, event_type = where.strict, AUDIT_EVENT_TYPE
    items: list[Prepared] = []
    rejected = 0
    reasons: list[str] = []
    for record in records:
        key = (record.timestamp, record.partition)
        headers = dict(record.headers)
        if (tenant is not None and headers.get("ce_tenantid") != tenant) or (
            run is not None and headers.get("ce_runid") != run
        ):
            items.append((*key, None))
            continue
        try:
            owner, event_id, source, run_id, when, data = parse(record, headers, strict)
        except RejectedRecordError as exc:
            rejected += 1
            if len(reasons) < 20:
                reasons.append(str(exc))
            items.append((*key, None))
            continue
        head, tail = entry_parts(owner, event_id, event_type, source, when, run_id, data)
        fields = indexed_fields(data, run_id) if with_fields else None
        items.append((*key, (owner, event_id, when, head, tail, fields)))
    return items, rejected, reasons


def _link_prepared(
    payloads: list[Payload | None], chain: Chain, times: dict[str, str]
) -> tuple[list[Link], list[IndexedFields | None], list[str]]:
    """Link prepared entries in order (the parent's half of `_link_all`)."""
    heads = chain.heads
    links: list[Link] = []
    fields: list[IndexedFields | None] = []
    ids: list[str] = []
    for payload in payloads:
        if payload is None:
            continue
        owner, event_id, when, head, tail, indexed = payload
        seq, prev = heads.get(owner, (0, GENESIS))
        seq += 1
        body = b"%b%d%b" % (head, seq, tail)  # with_seq; a counter never nears 2**53
        digest = sha256(prev.encode() + body).hexdigest()
        heads[owner] = (seq, digest)
        times[owner] = when
        links.append(Link(owner, seq, prev, digest, body))
        fields.append(indexed)
        ids.append(event_id)
    return links, fields, ids


def _sign(chain: Chain, times: dict[str, str], signer: CheckpointSigner | None) -> list[Checkpoint]:
    if signer is None:
        return []
    marks = []
    for tenant, (seq, digest) in sorted(chain.heads.items()):
        marks.append(signer.sign(tenant, seq, digest, times[tenant]))
    return marks
