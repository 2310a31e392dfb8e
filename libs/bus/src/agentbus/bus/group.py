"""Group commit: short transactions of concurrent records share one database transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from agentbus.storage import UnitOfWork, UnitOfWorkFactory
from agentbus.telemetry import bind_log_context, log_context

from .relay import OutboxRelay

__all__ = ["GroupCommit", "Work"]

log = logging.getLogger("agentbus.bus")

Work = Callable[[UnitOfWork, bool], Awaitable[Any]]
"""`work(uow, alone)`: runs inside a shared transaction (alone=False) or its own (True)."""


@dataclass
class _Pending:
    work: Work
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # The caller's trace and log ids: the work runs in the flusher's task, but what it
    # publishes must continue the caller's span and its log lines carry the caller's ids.
    trace: Context = field(default_factory=otel_context.get_current)
    log_fields: dict[str, str] = field(default_factory=log_context)

    async def __call__(self, uow: UnitOfWork, alone: bool) -> Any:
        token = otel_context.attach(self.trace)
        try:
            with bind_log_context(**self.log_fields):
                return await self.work(uow, alone)
        finally:
            otel_context.detach(token)


class GroupCommit:
    """Collects the short transactions of records running concurrently and commits them
    together, one transaction per tenant, instead of one commit each.

    Hundreds of records waiting on I/O finish at about the same time; committing each
    alone makes them queue for the database's single writer (SQLite) or pay a round trip
    and an fsync each. If anything in a shared transaction fails, it is rolled back and
    each piece of work runs again in a transaction of its own, so one record's error
    stays that record's (each `work` must therefore be safe to run twice).
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        relay: OutboxRelay,
        *,
        max_batch: int,
        timeout_s: float,
    ) -> None:
        self.uow_factory = uow_factory
        self.relay = relay
        self.max_batch = max_batch
        self.timeout_s = timeout_s
        self._pending: dict[str, list[_Pending]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self, tenant: str, work: Work) -> Any:
        """Run `work` in a transaction of `tenant`, committed before this returns."""
        pending = _Pending(work)
        self._pending.setdefault(tenant, []).append(pending)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_forever(), name="agentbus-group-commit")
        self._wake.set()
        return await pending.done

    async def close(self) -> None:
        """Stop the flusher; callers still waiting are cancelled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for group in self._pending.values():
            for pending in group:
                pending.done.cancel()
        self._pending.clear()

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # One turn of the event loop lets records finishing together join the group.
            await asyncio.sleep(0)
            while self._pending:
                tenant = next(iter(self._pending))
                group = self._pending[tenant][: self.max_batch]
                rest = self._pending[tenant][len(group) :]
                if rest:
                    self._pending[tenant] = rest
                else:
                    del self._pending[tenant]
                await self._commit(tenant, group)

    async def _commit(self, tenant: str, group: list[_Pending]) -> None:
        if len(group) == 1:
            await self._alone(tenant, group[0])
            return
        try:
            results = []
            async with asyncio.timeout(self.timeout_s), self.uow_factory(tenant) as uow:
                for pending in group:
                    results.append(await pending(uow, False))
                await uow.commit()
        except Exception as exc:
            log.info(
                "group transaction failed; committing its records one by one",
                extra={"fields": {"records": len(group), "error": type(exc).__name__}},
            )
            for pending in group:
                await self._alone(tenant, pending)
            return
        await self.relay.publish_committed(uow.published_ids)
        for pending, result in zip(group, results, strict=True):
            if not pending.done.done():
                pending.done.set_result(result)

    async def _alone(self, tenant: str, pending: _Pending) -> None:
        try:
            async with asyncio.timeout(self.timeout_s), self.uow_factory(tenant) as uow:
                result = await pending(uow, True)
                await uow.commit()
        except Exception as exc:
            if not pending.done.done():
                pending.done.set_exception(exc)
            return
        await self.relay.publish_committed(uow.published_ids)
        if not pending.done.done():
            pending.done.set_result(result)
