"""Liveness (`/healthz`) and readiness (`/readyz`: each named check must answer in time)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

__all__ = ["ReadinessCheck", "health_router"]

# A check returns (or raises) when it has an answer; False or an exception means not ready.
ReadinessCheck = Callable[[], Awaitable[bool | None]]


async def _run(check: ReadinessCheck, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            ok = await check()
    except TimeoutError:
        return f"failed: no answer within {timeout_s}s"
    except Exception as exc:
        # The class name only: a driver message can carry a host name or a password.
        return f"failed: {type(exc).__name__}"
    return "ok" if ok is not False else "failed"


def health_router(checks: Mapping[str, ReadinessCheck], *, timeout_s: float) -> APIRouter:
    """Routes for probes; they need no credential (kubelets carry none)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Every dependency answers",
        responses={503: {"description": "a readiness check failed"}},
    )
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(_run(checks[n], timeout_s) for n in names))
        status = dict(zip(names, results, strict=True))
        failed = [n for n, r in status.items() if r != "ok"]
        body: dict[str, Any]
        if failed:
            body = {
                "code": "not_ready",
                "message": f"readiness check failed: {', '.join(failed)}",
                "checks": status,
            }
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "checks": status})

    return router
