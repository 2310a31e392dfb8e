"""The data a routed call carries through its three phases (prepare, perform, record)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from contracts.types import StepRef

from .domain import CallOutcome, ChatRequest, ErrorKind, Usage
from .router import Plan, Routed, RoutingFailedError

__all__ = ["CallError", "CallResult", "CallSpec", "Prepared", "error_for", "nanos"]


def nanos(usd: Decimal) -> int:
    """USD as whole nano-dollars, rounded up so holds always cover the charge."""
    return int((usd * 1_000_000_000).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class CallSpec:
    """One request to route, from Kafka or HTTP."""

    tenant_id: str
    request_id: str
    alias: str
    request: ChatRequest
    allow_cache: bool = True
    max_cost_usd: Decimal | None = None
    max_latency_ms: int | None = None
    step: StepRef | None = None
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallError:
    """Why a call produced no answer; safe to show the caller (no prompt text, no keys)."""

    code: str
    message: str
    retryable: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What prepare decided: go ahead with `plan`, or an outcome already settled."""

    spec: CallSpec
    plan: Plan | None
    outcome: CallOutcome | None = None
    error: CallError | None = None
    cached: dict[str, Any] | None = None
    cache_key: str | None = None
    day: str = ""
    month: str = ""


@dataclass(frozen=True, slots=True)
class CallResult:
    """What perform produced."""

    prepared: Prepared
    outcome: CallOutcome
    latency_s: float
    routed: Routed | None = None
    error: CallError | None = None

    @property
    def usage(self) -> Usage:
        """Tokens billed: zero for cache hits and failures."""
        if self.routed is None:
            return Usage(0, 0)
        return self.routed.completion.usage

    @property
    def cost_usd(self) -> Decimal:
        """Cost billed: zero for cache hits and failures."""
        return self.routed.cost_usd if self.routed else Decimal(0)


_CODES = {
    ErrorKind.CONTEXT_WINDOW: "model.context_window_exceeded",
    ErrorKind.CONTENT_POLICY: "model.content_policy",
    ErrorKind.CIRCUIT_OPEN: "model.circuit_open",
    ErrorKind.MALFORMED: "model.malformed_response",
    ErrorKind.AUTH: "model.provider_auth",
    ErrorKind.BAD_REQUEST: "model.bad_request",
}


def error_for(exc: RoutingFailedError) -> CallError:
    """The caller-facing error of a failed route; retryable when a later try may succeed."""
    transient = any(f.kind.transient or f.kind is ErrorKind.CIRCUIT_OPEN for f in exc.failures)
    return CallError(
        code=_CODES.get(exc.kind, "model.unavailable"),
        message=str(exc),
        retryable=transient,
        details={"attempts": [[f.deployment_id, f.kind.value] for f in exc.failures]},
    )
