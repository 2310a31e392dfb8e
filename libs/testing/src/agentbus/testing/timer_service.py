"""A service process for timer fault tests: a Bus that only fires timers and relays."""

from __future__ import annotations

import argparse
import asyncio

from agentbus.bus import Bus, BusSettings
from agentbus.telemetry import configure_logging

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Fire the timers of `--database-url` until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    configure_logging("timer-service", "INFO")
    settings = BusSettings(
        bootstrap_servers=args.bootstrap,
        client_id=args.group,
        consumer_group=args.group,
        database_url=args.database_url,
        timer_poll_interval_s=args.poll_interval,
        timer_batch_size=25,
        outbox_relay_interval_s=0.2,
        outbox_batch_size=25,
        outbox_relay_grace_s=1.0,
    )
    bus = Bus(settings, service="timer-service")
    asyncio.run(bus.create_app().run())


if __name__ == "__main__":
    main()
