"""The composition root: settings in, a wired planner (bus, HTTP app, background loops) out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from agentbus.bus import Bus
from agentbus.http import service_http_app
from agentbus.telemetry import Telemetry, configure_logging, setup_telemetry

from . import __version__
from .api import PlannerApi, install_routes
from .consumers import register
from .drafting import Drafter
from .handlers import RunHandlers
from .lifecycle import DefinitionService, QualityGate
from .metrics import RunMetrics
from .quality_gate_http import gate_from_settings
from .runner import RunDriver, Topics
from .settings import PlannerSettings

__all__ = ["MIGRATIONS", "Planner", "create_app", "main"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"


@dataclass
class Planner:
    """One planner process: its bus, use cases, HTTP app and timer loop."""

    settings: PlannerSettings
    bus: Bus
    topics: Topics
    runs: RunHandlers
    definitions: DefinitionService
    drafter: Drafter
    http: FastAPI
    telemetry: Telemetry | None = None

    async def start(self) -> None:
        """Migrate, connect, consume; the bus also fires the durable timers."""
        await self.bus.start()

    async def stop(self) -> None:
        """Stop the bus (offsets committed, relay drained)."""
        await self.bus.stop()


def create_app(settings: PlannerSettings, *, gate: QualityGate | None = None) -> Planner:
    """Wire the planner from settings; nothing connects until `start`."""
    telemetry = setup_telemetry("planner", settings.telemetry, set_global=False)
    bus = Bus(settings.bus, service="planner", telemetry=telemetry, migrations=[MIGRATIONS])
    topics = Topics(settings.topic_prefix)
    metrics = RunMetrics(telemetry.meter_provider.get_meter("planner"))
    runs = RunHandlers(RunDriver(topics, metrics=metrics))
    definitions = DefinitionService(topics, gate or gate_from_settings(settings.quality_gate))
    drafter = Drafter(
        topics, definitions, settings.drafting.model_alias, settings.drafting.max_repairs
    )
    register(bus, topics, runs, drafter)
    planner: Planner

    http = service_http_app(
        title="agentbus planner",
        version=__version__,
        settings=settings.http,
        bus=bus,
        # Late-bound: the service object is built with this app, just below.
        start=lambda: planner.start(),
        stop=lambda: planner.stop(),
    )
    api = PlannerApi(bus, topics, runs, definitions, drafter, settings.list_limit)
    install_routes(http, api)
    planner = Planner(settings, bus, topics, runs, definitions, drafter, http, telemetry)
    return planner


def main() -> None:
    """The `planner` console script (serve by default; see `planner --help`)."""
    from .cli import app as cli

    cli()


def serve(settings: PlannerSettings) -> None:
    """Run the planner: consumers, timers and (unless disabled) the HTTP API."""
    import asyncio
    import signal

    from agentbus.http import run_async, run_service, settle_heap

    configure_logging("planner", settings.log_level)
    planner = create_app(settings)
    if settings.serve_http:
        run_service(planner.http, settings.http)
        return

    async def consume_only() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await planner.start()
        try:
            await stopping.wait()
        finally:
            await planner.stop()

    settle_heap()
    run_async(consume_only())
