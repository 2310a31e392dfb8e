"""A background loop that runs a step every interval, or sooner when woken."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["BackgroundLoop"]

log = logging.getLogger("agentbus.bus")


class BackgroundLoop:
    """Runs `step` until stopped; a failing step is logged and tried again next time."""

    def __init__(self, name: str, step: Callable[[], Awaitable[None]], interval_s: float) -> None:
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return self._task is not None

    def start(self) -> None:
        """Start the loop in the running event loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the step now instead of at the end of the interval."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            self._wake.clear()
            try:
                await self.step()
            except Exception:
                log.warning("%s failed; trying again", self.name, exc_info=True)
