"""The FastAPI app factory every service uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

from agentbus.storage import statements_off_loop

from .authenticator import Authenticator
from .errors import install_error_handlers
from .health import ReadinessCheck, health_router
from .tracing import telemetry_config

__all__ = ["StatementsOffLoop", "create_http_app"]


class StatementsOffLoop:
    """Requests' SQLite statements run on connection threads (ADR 0014).

    A consumer's statements are short by design and run on the event loop; a request's
    query carries the caller's filters and may scan a large table, which on the loop would
    stall every consumer of the process meanwhile. Not the lifespan: it starts the bus.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with statements_off_loop():
            await self.app(scope, receive, send)


def create_http_app(
    *,
    title: str,
    version: str,
    authenticator: Authenticator,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Any = None,
    readiness_timeout_s: float = 3.0,
    docs: bool = True,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> FastAPI:
    """An app with JSON errors, health probes and OpenAPI; add routers that authenticate.

    Routes authenticate by depending on `current_principal` (or `require_roles(...)`),
    e.g. `APIRouter(dependencies=[Depends(current_principal)])`. Every request but the
    probes and /metrics gets a server span and a duration (see `telemetry_config`),
    through the given providers or else the global ones.
    """
    app = FastAPI(
        telemetry=telemetry_config(tracer_provider, meter_provider),
        title=title,
        version=version,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.authenticator = authenticator
    app.add_middleware(StatementsOffLoop)
    install_error_handlers(app)
    app.include_router(health_router(readiness_checks or {}, timeout_s=readiness_timeout_s))
    return app
