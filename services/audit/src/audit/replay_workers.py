"""Replay on every core: worker processes read and canonicalise partitions, the parent links.

Reading a record with aiokafka and writing its canonical entry cost about three times
what linking it costs (sequence number, SHA-256, export line), and only linking depends
on the order across partitions. So each worker process reads its share of the
partitions through the same window reader and prepares every record (parse, check,
canonical entry without its seq); the parent merges the workers' streams by the same
rule as the reader merges partitions (smallest head by timestamp, then partition), so
the order - and every byte written - is the one a single process produces.
"""

from __future__ import annotations

import asyncio
import heapq
import io
import os
import pickle
import queue
import threading
import time
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from itertools import chain, islice
from multiprocessing import get_context
from multiprocessing.connection import Connection
from operator import itemgetter, le
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from agentbus.http import run_async

from .prepare import Prepared
from .reader import TopicWindow, Window, read_window

__all__ = ["Prepared", "WorkerJob", "prepared_stream"]

# Batches a worker may have sent ahead of the parent (each about FETCH_RECORDS records).
MAX_QUEUED = 8


@dataclass(frozen=True)
class WorkerJob:
    """What one worker reads and how it prepares records (inherited by fork, not pickled)."""

    window: Window
    offsets: TopicWindow
    open_consumer: Callable[[], AIOKafkaConsumer]
    prepare: Callable[[list[ConsumerRecord[Any, Any]]], tuple[list[Prepared], int, list[str]]]


@dataclass
class _Batch:
    scanned: int
    fetched: int
    items: list[Prepared]
    rejected: int
    reasons: list[str]


def _split(offsets: TopicWindow, workers: int) -> list[TopicWindow]:
    """The active partitions shared by at most `workers` workers, about equal in records."""
    sizes = {p: offsets.end[p] - offsets.start[p] for p in offsets.start}
    active = sorted((p for p in sizes if sizes[p] > 0), key=lambda p: (-sizes[p], p))
    groups: list[list[int]] = [[] for _ in range(min(workers, len(active)))]
    loads = [0] * len(groups)
    for p in active:  # largest first, each to the least loaded worker
        k = loads.index(min(loads))
        groups[k].append(p)
        loads[k] += sizes[p]
    return [
        TopicWindow({p: offsets.start[p] for p in g}, {p: offsets.end[p] for p in g})
        for g in groups
    ]


def _work(job: WorkerJob, conn: Connection) -> None:
    """A worker process: read its partitions, send prepared batches, then its CPU time."""
    code = 0
    try:
        run_async(_read(job, conn))
        # Its last message: the CPU seconds it used, for the replay's statistics.
        conn.send_bytes(pickle.dumps(time.process_time()))
    except BaseException as exc:  # report anything to the parent, which raises it
        code = 1
        conn.send_bytes(pickle.dumps(RuntimeError(f"replay worker failed: {exc!r}")))
    finally:
        conn.close()
        # Leave without the usual exit steps: they flush stdout and stderr, whose locks a
        # thread of the parent (a progress bar) may have held when this process forked.
        os._exit(code)


async def _read(job: WorkerJob, conn: Connection) -> None:
    consumer = job.open_consumer()
    fetched = [0]
    await consumer.start()
    try:

        def count(n: int) -> None:
            fetched[0] += n

        async for records in read_window(consumer, job.window, job.offsets, on_fetched=count):
            items, rejected, reasons = job.prepare(records)
            batch = _Batch(len(records), fetched[0], items, rejected, reasons)
            fetched[0] = 0
            # Blocks while the parent is MAX_QUEUED batches behind: the back-pressure.
            conn.send_bytes(_dumps(batch))
    finally:
        await consumer.stop()


def _dumps(batch: _Batch) -> bytes:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    # No memo: a batch holds no shared or recursive objects, and the memo more than
    # doubled the time to pickle one (about 2.4 against 1.1 us per record).
    pickler.fast = True
    pickler.dump(batch)
    return out.getvalue()


async def prepared_stream(
    job: WorkerJob,
    workers: int,
    on_batch: Callable[[int, int, int, list[str]], None],
    on_done: Callable[[float], None],
) -> AsyncIterator[list[Any]]:
    """Prepared payloads (None for skipped records) in the single-process order, in lists.

    `on_batch(scanned, fetched, rejected, reasons)` is called for each batch a worker sends,
    `on_done(cpu_seconds)` when a worker has finished.
    """
    context = get_context("fork")
    shares = _split(job.offsets, workers)
    conns: list[Connection] = []
    processes = []
    for share in shares:
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(replace(job, offsets=share), send))
        # Forked from a thread without a running event loop, so the child can run its own.
        await asyncio.to_thread(process.start)
        send.close()
        conns.append(receive)
        processes.append(process)
    # One thread per worker drains its pipe into a queue while the parent links: a worker
    # blocked on a full pipe would stall its own fetching too (its loop is blocked).
    inboxes = [_Inbox(conn) for conn in conns]
    merger = _Merger([[] for _ in shares], [True for _ in shares])
    open_ = set(range(len(shares)))
    try:
        while open_ or any(merger.buffers):
            for w in sorted(open_):
                while w in open_ and not merger.buffers[w]:
                    message = pickle.loads(await inboxes[w].get())
                    if isinstance(message, float):
                        open_.discard(w)
                        on_done(message)
                    elif isinstance(message, Exception):
                        raise message
                    else:
                        on_batch(
                            message.scanned, message.fetched, message.rejected, message.reasons
                        )
                        merger.add(w, message.items)
            yield merger.merge(open_)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            await asyncio.to_thread(process.join)
        for inbox in inboxes:
            inbox.close()


class _Inbox:
    """A worker's messages, read from its pipe by a thread; at most MAX_QUEUED waiting."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queue: queue.Queue[bytes] = queue.Queue(MAX_QUEUED)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="replay-inbox", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._conn.recv_bytes()
            except (EOFError, OSError):
                # Read only when the worker ended before its last message (its CPU time).
                self._put(pickle.dumps(RuntimeError("replay worker ended without its result")))
                return
            self._put(message)

    def _put(self, message: bytes) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.1)
                return
            except queue.Full:
                continue

    async def get(self) -> bytes:
        """The next message (waits in a thread only when none is queued)."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return await asyncio.to_thread(self._queue.get)

    def close(self) -> None:
        """Stop the thread and close the pipe."""
        self._stop.set()
        self._thread.join()
        self._conn.close()


_ORDER = itemgetter(0, 1)


@dataclass
class _Merger:
    """The workers' buffered items, and whether each buffer's keys never decrease."""

    buffers: list[list[Prepared]]
    ordered: list[bool]

    def add(self, w: int, items: list[Prepared]) -> None:
        """Buffer a batch of worker `w`'s items."""
        if not items:
            return
        buffer = self.buffers[w]
        keys = list(map(_ORDER, items))
        ordered = all(map(le, keys, islice(keys, 1, None)))
        if buffer:
            ordered = ordered and self.ordered[w] and _ORDER(buffer[-1]) <= keys[0]
        self.ordered[w] = ordered
        buffer.extend(items)

    def merge(self, open_: set[int]) -> list[Any]:
        """Emit the smallest head (timestamp, partition) while every open worker has one.

        The payloads come out in that order; items after the stop stay buffered.
        """
        if all(self.ordered[w] for w, buffer in enumerate(self.buffers) if buffer):
            return self._sorted(open_)
        return self._heads(open_)

    def _sorted(self, open_: set[int]) -> list[Any]:
        # With every buffer in key order, the head merge stops after the last item of the
        # open worker whose last item comes first (the horizon): so it emits exactly the
        # items up to the horizon, which a sort in C orders (no two workers share a
        # partition, and a stable sort keeps a partition's offset order).
        buffers = self.buffers
        ends = [_ORDER(buffers[w][-1]) for w in open_ if buffers[w]]
        horizon = min(ends) if ends else None
        parts = []
        for buffer in buffers:
            cut = len(buffer) if horizon is None else bisect_right(buffer, horizon, key=_ORDER)
            parts.append(buffer[:cut])
            del buffer[:cut]
        return [item[2] for item in sorted(chain.from_iterable(parts), key=_ORDER)]

    def _heads(self, open_: set[int]) -> list[Any]:
        # Timestamps that go backwards within a partition: the head merge itself.
        buffers = self.buffers
        taken = [0] * len(buffers)
        heads = [(buffer[0][0], buffer[0][1], w) for w, buffer in enumerate(buffers) if buffer]
        heapq.heapify(heads)
        out = []
        while heads:
            _, _, w = heapq.heappop(heads)
            buffer, i = buffers[w], taken[w]
            out.append(buffer[i][2])
            taken[w] = i = i + 1
            if i < len(buffer):
                heapq.heappush(heads, (buffer[i][0], buffer[i][1], w))
            elif w in open_:
                break  # its next record may come before every other head
        for w, buffer in enumerate(buffers):
            del buffer[: taken[w]]
        return out
