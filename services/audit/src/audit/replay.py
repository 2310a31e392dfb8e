"""Replay the audit topic into a fresh store or an export: deterministic, side-effect free."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer

from .chain import Chain, Checkpoint
from .linking import link_entries, link_lines
from .prepare import Payload, ReplayFilter, prepare
from .reader import TopicWindow, Window, locate, read_window
from .replay_workers import WorkerJob, prepared_stream
from .signing import CheckpointSigner
from .sinks import JsonlSink, ReplaySink
from .verify_chunks import default_workers

__all__ = ["ReplayFilter", "ReplayStats", "idle_cores", "prepare", "replay"]

_EVERY_RECORD = ReplayFilter()
# Below this many records in the window, starting worker processes costs more than it saves.
MIN_PARALLEL_RECORDS = 20_000


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


def _consumer(bootstrap: str, config: dict[str, Any]) -> AIOKafkaConsumer:
    # No group: nothing is committed, no other consumer's position moves, no rebalance.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # 2 MB per partition: the first records arrive after 2 MB of each, not 16 (0.05
        # against 0.17-0.33 s to the first record), and the fetcher fetches a partition
        # again while the reader still works through its last 2,000 records.
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=2 * 1024 * 1024,
        **config,
    )


async def replay(
    bootstrap: str,
    window: Window,
    sink: ReplaySink,
    *,
    where: ReplayFilter = _EVERY_RECORD,
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
        stats, where, with_fields = self.stats, self.where, self.sink.needs_fields
        window = read_window(consumer, self.window, offsets, on_fetched=self.on_fetched)
        async for records in window:
            stats.scanned += len(records)
            items, rejected, reasons = prepare(records, where, with_fields)
            _count_rejected(stats, rejected, reasons)
            await self._link([item[2] for item in items])

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
            _count_rejected(stats, rejected, reasons)
            if self.on_fetched is not None:
                self.on_fetched(fetched)

        done = stats.worker_cpu_seconds.append
        async for payloads in prepared_stream(job, self.workers, on_batch, done):
            await self._link(payloads)

    async def _link(self, payloads: list[Payload | None]) -> None:
        """Link prepared entries (in replay order) into the sink."""
        sink = self.sink
        if isinstance(sink, JsonlSink):
            lines = link_lines(payloads, self.chain, self.times)
            await sink.add_lines(lines)
            self.stats.written += len(lines)
        else:
            links, fields, ids = link_entries(payloads, self.chain, self.times)
            await sink.add_many(links, fields, ids)
            self.stats.written += len(links)


def _count_rejected(stats: ReplayStats, rejected: int, reasons: list[str]) -> None:
    stats.rejected += rejected
    stats.rejections.extend(reasons[: 20 - len(stats.rejections)])


def _sign(chain: Chain, times: dict[str, str], signer: CheckpointSigner | None) -> list[Checkpoint]:
    if signer is None:
        return []
    marks = []
    for tenant, (seq, digest) in sorted(chain.heads.items()):
        marks.append(signer.sign(tenant, seq, digest, times[tenant]))
    return marks
