"""Run a service's Bus and HTTP app in one process, under uvicorn, stopping on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from .app import create_http_app
from .authenticator import Authenticator
from .health import ReadinessCheck
from .settings import HttpSettings
from .tracing import FixedMeterProvider, FixedTracerProvider

if TYPE_CHECKING:  # importing agentbus.http must not load the Kafka client
    from agentbus.bus import Bus
    from agentbus.telemetry import Telemetry

__all__ = [
    "bus_lifespan",
    "bus_readiness_checks",
    "run_service",
    "service_http_app",
    "settle_heap",
    "uvicorn_server",
]


def bus_lifespan(
    bus: Bus,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that starts the bus before serving and stops it after."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await bus.start()
        try:
            yield
        finally:
            # Runs after uvicorn drained requests on SIGTERM: offsets committed, relay stopped.
            await bus.stop()

    return lifespan


def bus_readiness_checks(bus: Bus, *, timeout_s: float = 3.0) -> dict[str, ReadinessCheck]:
    """`broker` (cluster metadata answers) and `database` (SELECT 1) for `/readyz`."""

    async def broker() -> bool:
        return await bus.broker.ping(timeout=timeout_s)

    async def database() -> bool:
        async with bus.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    return {"broker": broker, "database": database}


def uvicorn_server(app: Any, settings: HttpSettings, **config: Any) -> uvicorn.Server:
    """A uvicorn server for `app` with the service's host, port and shutdown grace."""
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            lifespan="on",
            timeout_graceful_shutdown=int(settings.graceful_shutdown_s),
            # Keep the process's JSON logging (agentbus.telemetry), not uvicorn's own config.
            log_config=None,
            access_log=False,
            server_header=False,
            **config,
        )
    )


# Young-generation threshold of a serving process (CPython's default: 700 allocations).
YOUNG_GC_THRESHOLD = 10_000


def settle_heap() -> None:
    """Tune the cyclic garbage collector for a long-running service (ADR 0007).

    Start-up leaves a few hundred thousand long-lived objects (modules, models, compiled
    statements); every full collection scanned them again, and with hundreds of messages in
    flight the collector took a quarter of a service's CPU. They are frozen (moved out of
    the collected generations), and young collections run every 10,000 allocations rather
    than 700. Reference counting still frees everything without cycles at once."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)


T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on uvloop where it is installed, else on asyncio's loop.

    uvicorn already serves the HTTP services on uvloop; processes without HTTP (the
    planner's consume-only mode, an audit replay) use this so that every service process
    runs on the same loop. uvloop's transports and callbacks cost less CPU per Kafka
    fetch and send (5-10% of a replay's CPU here, ADR 0011)."""
    try:
        import uvloop
    except ImportError:  # Windows, or an install without it
        return asyncio.run(main)
    return uvloop.run(main)


def run_service(app: Any, settings: HttpSettings) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn drains requests, then the lifespan stops the bus."""
    server = uvicorn_server(app, settings)
    settle_heap()
    server.run()
    if not server.started:
        raise SystemExit(f"could not serve on {settings.host}:{settings.port}")


def service_http_app(
    *,
    title: str,
    version: str,
    settings: HttpSettings,
    bus: Bus,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """A service's HTTP app: keys/JWT from `settings`, `/readyz` on the bus's broker and
    database, a lifespan that runs `start` before serving and `stop` after, and server
    spans and request metrics through `telemetry` (default: through the bus's tracer and
    meter, so they go where the service's consumer spans go)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await start()
        try:
            yield
        finally:
            await stop()

    return create_http_app(
        title=title,
        version=version,
        authenticator=Authenticator.from_settings(settings),
        readiness_checks=bus_readiness_checks(bus, timeout_s=settings.readiness_timeout_s),
        lifespan=lifespan,
        readiness_timeout_s=settings.readiness_timeout_s,
        docs=settings.docs,
        tracer_provider=(
            telemetry.tracer_provider if telemetry else FixedTracerProvider(bus.tracer)
        ),
        meter_provider=(telemetry.meter_provider if telemetry else FixedMeterProvider(bus.meter)),
    )
