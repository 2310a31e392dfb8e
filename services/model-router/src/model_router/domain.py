"""The routing core's vocabulary: requests, answers, usage, provider errors, estimates."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "CallOutcome",
    "ChatRequest",
    "Completion",
    "ErrorKind",
    "Message",
    "ProviderError",
    "Usage",
    "budget_periods",
    "cache_key",
    "estimate_prompt_tokens",
    "estimate_text_tokens",
    "is_deterministic",
    "rate_window",
]

_CHARS_PER_TOKEN = 4  # the usual English average; estimates are flagged as such
_MESSAGE_OVERHEAD = 4  # role and separators per message, as chat templates add


class ErrorKind(StrEnum):
    """How a provider call failed; decides retry (transient) and fallback."""

    CONNECTION = "connection"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    CONTEXT_WINDOW = "context_window_exceeded"
    CONTENT_POLICY = "content_policy"
    MALFORMED = "malformed_response"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    CIRCUIT_OPEN = "circuit_open"

    @property
    def transient(self) -> bool:
        """Worth retrying on the same deployment."""
        return self in _TRANSIENT


_TRANSIENT = frozenset(
    {ErrorKind.CONNECTION, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMITED, ErrorKind.SERVER}
)


class CallOutcome(StrEnum):
    """How one routed call ended, as reported to the caller and in metrics."""

    OK = "ok"
    CACHED = "cached"
    BUDGET_EXCEEDED = "budget_exceeded"
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"


class ProviderError(Exception):
    """A provider call failed in a classified way; never carries prompt text or keys."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def transient(self) -> bool:
        """Worth retrying on the same deployment."""
        return self.kind.transient


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message."""

    role: str
    content: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A provider-neutral chat completion request."""

    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    response_format: str = "text"
    json_schema: dict[str, Any] | None = None

    def canonical(self) -> dict[str, Any]:
        """The request as a plain, order-stable mapping (cache key and hashing)."""
        return {
            "messages": [[m.role, m.content, m.name] for m in self.messages],
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "response_format": self.response_format,
            "json_schema": self.json_schema,
        }


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one call; `estimated` when the provider did not report them."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's answer."""

    content: str
    finish_reason: str
    model: str
    usage: Usage
    extra: dict[str, Any] = field(default_factory=dict)


def estimate_text_tokens(text: str) -> int:
    """A provider-neutral token estimate of `text` (at least 1 for non-empty text)."""
    return (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """Estimated input tokens of a request, counting per-message overhead."""
    return sum(estimate_text_tokens(m.content) + _MESSAGE_OVERHEAD for m in request.messages)


def is_deterministic(request: ChatRequest) -> bool:
    """True when the same request should give the same answer (temperature 0)."""
    return request.temperature == 0


def cache_key(tenant_id: str, alias: str, request: ChatRequest) -> str:
    """sha256 over tenant, alias and the normalised request: never equal across tenants."""
    payload = json.dumps(
        [tenant_id, alias, request.canonical()], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def budget_periods(now: datetime) -> tuple[str, str]:
    """The (day, month) budget periods `now` falls in, as YYYY-MM-DD and YYYY-MM (UTC)."""
    return now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")


def rate_window(now_s: float, window_s: int) -> int:
    """Start (epoch seconds) of the fixed rate-limit window `now_s` falls in."""
    return int(now_s // window_s) * window_s


def money(value: float | str | Decimal) -> Decimal:
    """A Decimal from a price-table number without binary-float noise."""
    return value if isinstance(value, Decimal) else Decimal(str(value))
