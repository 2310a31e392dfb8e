"""Fires durable timers: due ones become outbox rows, which the relay then publishes."""

from __future__ import annotations

import logging

from agentbus.storage import UnitOfWorkFactory, fire_due

from .background import BackgroundLoop
from .relay import OutboxRelay

__all__ = ["TimerPoller"]

log = logging.getLogger("agentbus.bus.timers")


class TimerPoller:
    """Every `interval_s`, moves due timers to the outbox in batches and wakes the relay.

    Claiming a timer, writing its outbox row and marking it fired are one transaction, so
    a crash either fires it (the relay sweep publishes the row) or leaves it due; replicas
    claim disjoint timers. The event id is fixed when scheduled, so a relay re-send is
    deduplicated by consumers' inboxes.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        relay: OutboxRelay,
        *,
        interval_s: float,
        batch_size: int,
    ) -> None:
        self.sessions = uow_factory.sessions
        self.relay = relay
        self.batch_size = batch_size
        self._loop = BackgroundLoop("agentbus-timer-poller", self._step, interval_s)

    async def fire_due(self) -> int:
        """Fire every timer due now, batch by batch; returns how many outbox rows were written."""
        fired = 0
        while True:
            async with self.sessions() as session:
                ids = await fire_due(session, limit=self.batch_size)
            if ids:
                await self.relay.publish_committed(ids)
            fired += len(ids)
            if len(ids) < self.batch_size:
                if fired:
                    log.info("timers fired", extra={"fields": {"count": fired}})
                return fired

    async def _step(self) -> None:
        await self.fire_due()

    def start(self) -> None:
        """Start polling in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop polling; due timers stay due for the next start or another replica."""
        await self._loop.stop()
