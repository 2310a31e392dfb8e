"""A consumer process for crash tests: applies Effect rows through the real bus runtime."""

from __future__ import annotations

import argparse
import asyncio

from agentbus.bus import Bus, BusSettings
from agentbus.telemetry import configure_logging

from .effects import EFFECT_MIGRATIONS, record_effect

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Consume `--topic` as `--group` into `--database-url` until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    configure_logging("effect-consumer", "INFO")
    settings = BusSettings(
        bootstrap_servers=args.bootstrap,
        client_id=args.group,
        consumer_group=args.group,
        database_url=args.database_url,
    )
    bus = Bus(settings, service="effect-consumer", migrations=[EFFECT_MIGRATIONS])
    bus.consumer(args.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    asyncio.run(bus.create_app().run())


if __name__ == "__main__":
    main()
