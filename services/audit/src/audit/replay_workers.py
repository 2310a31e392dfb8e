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
import os
import pickle
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from agentbus.http import run_async

from .reader import TopicWindow, Window, read_window

__all__ = ["Prepared", "WorkerJob", "prepared_stream"]

# (timestamp, partition, payload): payload is None for a record the filter skipped or
# the checks rejected; it still takes part in the merge, which decides the order.
Prepared = tuple[int, int, Any]


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
            # Blocks while the parent is behind: the pipe is the back-pressure.
            conn.send_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        await consumer.stop()


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
    buffers: list[deque[Prepared]] = [deque() for _ in shares]
    open_ = set(range(len(shares)))
    try:
        while open_ or any(buffers):
            for w in sorted(open_):
                while w in open_ and not buffers[w]:
                    message = pickle.loads(await asyncio.to_thread(conns[w].recv_bytes))
                    if isinstance(message, float):
                        open_.discard(w)
                        on_done(message)
                    elif isinstance(message, Exception):
                        raise message
                    else:
                        on_batch(
                            message.scanned, message.fetched, message.rejected, message.reasons
                        )
                        buffers[w].extend(message.items)
            yield _merge(buffers, open_)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            await asyncio.to_thread(process.join)
        for conn in conns:
            conn.close()


def _merge(buffers: list[deque[Prepared]], open_: set[int]) -> list[Any]:
    """Emit the smallest head (timestamp, partition) while every open worker has one."""
    heads = [(buffer[0][0], buffer[0][1], w) for w, buffer in enumerate(buffers) if buffer]
    heapq.heapify(heads)
    out = []
    while heads:
        _, _, w = heapq.heappop(heads)
        buffer = buffers[w]
        out.append(buffer.popleft()[2])
        if buffer:
            first = buffer[0]
            heapq.heappush(heads, (first[0], first[1], w))
        elif w in open_:
            break  # its next record may come before every other head
    return out
