"""Runs jobs concurrently across keys and strictly in order within one key, with a cap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

__all__ = ["Job", "KeyedScheduler"]

log = logging.getLogger("agentbus.bus")


@dataclass(eq=False)
class Job:
    """One unit of work; `tag` lets queued jobs be withdrawn (e.g. by partition)."""

    run: Callable[[], Awaitable[None]]
    tag: Hashable = None
    started: bool = False


class KeyedScheduler:
    """At most `limit` jobs admitted at once; one worker per key drains that key's queue.

    Admission is the caller's back-pressure: it asks `free` before submitting and waits on
    `wait_for_capacity` when nothing is free, so no queue grows without bound.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._admitted = 0
        self._queues: dict[Hashable, deque[Job]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    @property
    def free(self) -> int:
        """How many more jobs may be submitted now."""
        return max(0, self.limit - self._admitted)

    @property
    def admitted(self) -> int:
        """Jobs submitted and not finished (queued or running)."""
        return self._admitted

    def submit(self, key: Hashable, job: Job) -> None:
        """Queue `job` behind earlier jobs of `key`; start a worker for a new key."""
        self._admitted += 1
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(job)
            return
        self._queues[key] = deque([job])
        worker = asyncio.create_task(self._drain(key), name=f"agentbus-key-{key!r}"[:80])
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    async def wait_for_capacity(self, timeout_s: float) -> None:
        """Return when a job finishes, or after `timeout_s`."""
        self._changed.clear()
        if self.free:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    def withdraw(self, predicate: Callable[[Job], bool]) -> int:
        """Drop queued jobs not yet started that match; returns how many."""
        dropped = 0
        for queue in self._queues.values():
            keep = [job for job in queue if job.started or not predicate(job)]
            dropped += len(queue) - len(keep)
            queue.clear()
            queue.extend(keep)
        self._admitted -= dropped
        if dropped:
            self._changed.set()
        return dropped

    async def wait_idle(self, predicate: Callable[[Job], bool], timeout_s: float) -> bool:
        """Wait until no admitted job matches; False if some still do after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(predicate(job) for queue in self._queues.values() for job in queue):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))
        return True

    async def close(self) -> None:
        """Cancel every worker; unfinished jobs stay unsettled and are read again later."""
        for worker in list(self._workers):
            worker.cancel()
        for worker in list(self._workers):
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._queues.clear()
        self._admitted = 0

    async def _drain(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                job = queue[0]
                job.started = True
                try:
                    await job.run()
                except Exception:
                    # Jobs settle their own failures; reaching here is a bug worth a trace.
                    log.exception("job failed outside its own error handling")
                finally:
                    queue.popleft()
                    self._admitted -= 1
                    self._changed.set()
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]
