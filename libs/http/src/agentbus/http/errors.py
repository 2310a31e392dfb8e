"""Every HTTP error as JSON `{code, message}` with a stable code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "error_response", "install_error_handlers", "not_found"]

log = logging.getLogger("agentbus.http")

_CODES = {
    400: "request.invalid",
    401: "auth.invalid",
    403: "auth.forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    422: "request.invalid",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error a route raises on purpose; rendered as JSON with `code` and `message`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def not_found(kind: str, id: str) -> ApiError:
    """404 for an object that does not exist, or belongs to another tenant (never say which)."""
    return ApiError(404, "not_found", f"{kind} {id!r} not found")


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one JSON error body."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _field(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # No "input" or "ctx" in the details: the rejected value may be a secret or PII.
    details = [
        {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    first = details[0] if details else {"field": "request", "message": "invalid"}
    message = f"{first['field']}: {first['message']}"
    if len(details) > 1:
        message += f" (and {len(details) - 1} more)"
    return error_response(422, "request.invalid", message, details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route"
    return error_response(exc.status_code, code, message, headers=exc.headers)


def _database_busy(exc: Exception) -> bool:
    """A lost connection, a deadlock victim, a serialisation failure: the same request, sent
    again, can succeed (the transaction was rolled back)."""
    sa = sys.modules.get("sqlalchemy.exc")  # only a service with a database can raise these
    if sa is None:
        return False
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.OperationalError)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _database_busy(exc):
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            type(getattr(exc, "orig", None) or exc).__name__,
        )
        return error_response(
            503,
            "unavailable",
            "the database did not complete the request; nothing was changed, send it again",
            headers={"Retry-After": "1"},
        )
    log.error(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return error_response(500, "internal", "internal error; see the service log")


def install_error_handlers(app: FastAPI) -> None:
    """Route ApiError, validation errors, HTTP errors and anything unexpected to JSON."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
