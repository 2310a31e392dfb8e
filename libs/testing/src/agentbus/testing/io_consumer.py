"""A consumer process whose handler waits on simulated I/O, for concurrency and crash tests.

Each event's effect is one Effect row written in the record phase, after `perform` slept
outside any transaction; labels are the task ids, so tests can check per-key order.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from agentbus.bus import Bus, BusSettings, IoContext
from agentbus.storage import UnitOfWork
from agentbus.telemetry import configure_logging
from contracts.envelope import Envelope

from .effects import EFFECT_MIGRATIONS, Effect

__all__ = ["SleepyEffect", "main"]

log = logging.getLogger("agentbus.testing.io_consumer")


@dataclass
class SleepyEffect:
    """IoHandler: sleeps `delay_s` (longer for labels containing `slow_label`), then records."""

    delay_s: float = 0.0
    slow_label: str | None = None
    slow_delay_s: float = 0.0
    in_flight: int = 0
    peak_in_flight: int = 0

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> str:
        """The label to record: the task id."""
        return str(getattr(envelope.data, "task_id", ""))

    async def perform(self, label: str, ctx: IoContext) -> str:
        """Wait like a model or tool call would, with no transaction open."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            slow = self.slow_label is not None and self.slow_label in label
            if slow:
                log.info("slow record started", extra={"fields": {"label": label}})
            await asyncio.sleep(self.slow_delay_s if slow else self.delay_s)
            return label
        finally:
            self.in_flight -= 1

    async def record(self, envelope: Envelope[Any], label: str, uow: UnitOfWork) -> None:
        """One Effect row per application; no unique key, so a double application shows."""
        uow.session.add(Effect(tenant_id=uow.tenant_id, event_id=envelope.id, label=label))


def main(argv: list[str] | None = None) -> None:
    """Consume `--topic` as `--group` into `--database-url` until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--delay-s", type=float, default=0.0)
    parser.add_argument("--slow-label")
    parser.add_argument("--slow-delay-s", type=float, default=0.0)
    parser.add_argument("--max-in-flight", type=int, default=500)
    args = parser.parse_args(argv)
    configure_logging("io-consumer", "INFO")
    settings = BusSettings(
        bootstrap_servers=args.bootstrap,
        client_id=args.group,
        consumer_group=args.group,
        database_url=args.database_url,
        max_in_flight=args.max_in_flight,
        commit_interval_s=0.2,
    )
    bus = Bus(settings, service="io-consumer", migrations=[EFFECT_MIGRATIONS])
    handler = SleepyEffect(args.delay_s, args.slow_label, args.slow_delay_s)
    bus.io_consumer(args.topic, handler, event_types={"agentbus.task.submitted.v1"})
    asyncio.run(bus.create_app().run())


if __name__ == "__main__":
    main()
