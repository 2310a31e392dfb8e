"""The FastAPI app factory every service uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from .authenticator import Authenticator
from .errors import install_error_handlers
from .health import ReadinessCheck, health_router
from .tracing import telemetry_config

__all__ = ["create_http_app"]


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
    install_error_handlers(app)
    app.include_router(health_router(readiness_checks or {}, timeout_s=readiness_timeout_s))
    return app
