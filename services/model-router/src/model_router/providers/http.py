"""HTTP plumbing shared by the network adapters: error classification and SSE reading."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ..domain import ErrorKind, ProviderError

__all__ = ["classify_status", "http_errors", "parse_json", "retry_after", "sse_data"]

_CONTEXT_MARKERS = ("context_length", "context length", "prompt is too long", "too many tokens")
_POLICY_MARKERS = ("content_policy", "content policy", "content_filter", "safety")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), if present."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def classify_status(response: httpx.Response, body: str) -> ProviderError:
    """A ProviderError for a non-2xx answer, from its status and error body."""
    status = response.status_code
    text = body[:500].lower()
    message = f"HTTP {status}: {_error_message(body)}"
    if status == 429:
        return ProviderError(
            ErrorKind.RATE_LIMITED, message, status=status, retry_after_s=retry_after(response)
        )
    if status >= 500 or status in (408, 425):
        return ProviderError(
            ErrorKind.SERVER, message, status=status, retry_after_s=retry_after(response)
        )
    if any(marker in text for marker in _CONTEXT_MARKERS):
        return ProviderError(ErrorKind.CONTEXT_WINDOW, message, status=status)
    if any(marker in text for marker in _POLICY_MARKERS):
        return ProviderError(ErrorKind.CONTENT_POLICY, message, status=status)
    if status in (401, 403):
        return ProviderError(ErrorKind.AUTH, message, status=status)
    return ProviderError(ErrorKind.BAD_REQUEST, message, status=status)


def _error_message(body: str) -> str:
    # Provider error bodies name the problem; they never echo the prompt back at length.
    try:
        parsed = json.loads(body)
        error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:300]
    except (json.JSONDecodeError, AttributeError):
        pass
    return body[:200] or "(empty body)"


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object from a provider, or a MALFORMED ProviderError."""
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProviderError(ErrorKind.MALFORMED, f"response is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ProviderError(ErrorKind.MALFORMED, "response is not a JSON object")
    return parsed


def http_errors(exc: httpx.HTTPError) -> ProviderError:
    """Transport failures as ProviderErrors."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(ErrorKind.TIMEOUT, f"timed out: {type(exc).__name__}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return ProviderError(ErrorKind.CONNECTION, f"connection broken: {exc}")
    return ProviderError(ErrorKind.CONNECTION, f"{type(exc).__name__}: {exc}")


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """(event name, data) pairs of a server-sent event stream; blank lines end an event."""
    event: str | None = None
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)
