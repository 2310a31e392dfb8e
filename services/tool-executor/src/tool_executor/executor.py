"""One tool call: timeout, transient retries with backoff, size limit, result schema."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from .domain import ToolDefinition, ToolError, canonical_json
from .implementations import Implementations
from .schemas import first_problem
from .settings import CallRetry, Limits
from .tools import ToolCall

__all__ = ["CallOutcome", "Executor"]

log = logging.getLogger("tool_executor.executor")


@dataclass(frozen=True)
class CallOutcome:
    """How a call ended: a result, or a failure (denied when policy stopped it mid-call)."""

    result: Any = None
    error: ToolError | None = None
    duration_ms: int = 0
    attempts: int = 0
    retried_codes: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """True when the tool produced an acceptable result."""
        return self.error is None


class Executor:
    """Runs a `ToolCall` against its implementation under the executor's limits."""

    def __init__(self, implementations: Implementations, retry: CallRetry, limits: Limits) -> None:
        self.implementations = implementations
        self.retry = retry
        self.limits = limits

    def forwards_key(self, definition: ToolDefinition) -> bool:
        """True when the implementation hands the idempotency key on (HTTP: a header)."""
        try:
            tool = self.implementations.get(definition.implementation)
        except ToolError:
            return False  # the call fails anyway; treat it as the strict case
        return bool(getattr(tool, "forwards_idempotency_key", False))

    async def execute(self, call: ToolCall, *, at_most_once: bool = False) -> CallOutcome:
        """Call with retries for transient failures; never raises for a tool's own failure.

        An at-most-once call is not tried again after a failure that may have let its
        effect happen (`maybe_applied`, e.g. a timeout); a failure before it left is.
        """
        started = time.monotonic()
        retried: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._attempt(call)
            except ToolError as failure:
                repeatable = not (at_most_once and failure.maybe_applied)
                if failure.retryable and repeatable and attempt < self.retry.max_attempts:
                    retried.append(failure.code)
                    log.warning(
                        "transient tool failure, retrying",
                        extra={
                            "fields": {
                                "tool": call.definition.name,
                                "code": failure.code,
                                "attempt": attempt,
                            }
                        },
                    )
                    await asyncio.sleep(self._backoff(attempt))
                    continue
                return CallOutcome(
                    error=failure, duration_ms=_ms(started), attempts=attempt, retried_codes=retried
                )
            return CallOutcome(
                result=result, duration_ms=_ms(started), attempts=attempt, retried_codes=retried
            )

    async def _attempt(self, call: ToolCall) -> Any:
        tool = self.implementations.get(call.definition.implementation)
        try:
            async with asyncio.timeout(call.definition.timeout_s):
                result = await tool.run(call)
        except TimeoutError as exc:
            raise ToolError(
                "tool.timeout",
                f"tool {call.definition.name!r} took longer than {call.definition.timeout_s}s",
                retryable=True,
                maybe_applied=True,
            ) from exc
        except ToolError:
            raise
        except Exception as exc:
            # A plug-in's own bug: report its class only; its message may quote arguments.
            raise ToolError(
                "tool.crashed", f"tool raised {type(exc).__name__}", maybe_applied=True
            ) from exc
        # From here on the tool has returned: whatever it did is done.
        # A server may echo a credential back (an echoed Authorization header): never let
        # a secret leave in a result.
        try:
            result = call.secrets.scrub(result, call.secrets.used_by(call.config))
            size = len(canonical_json(result))
        except (TypeError, ValueError) as exc:
            raise ToolError(
                "tool.result_invalid", "result is not JSON", maybe_applied=True
            ) from exc
        if size > self.limits.max_result_bytes:
            raise ToolError(
                "tool.result_too_large",
                f"result is {size} bytes, over the limit of {self.limits.max_result_bytes}",
                maybe_applied=True,
            )
        schema = call.definition.result_schema
        if schema is not None:
            problem = first_problem(schema, result)
            if problem is not None:
                raise ToolError(
                    "tool.result_invalid",
                    f"result field {problem[0]!r} {problem[1]}",
                    maybe_applied=True,
                )
        return result

    def _backoff(self, attempt: int) -> float:
        base = self.retry.initial_backoff_s * 2 ** (attempt - 1)
        return float(min(self.retry.max_backoff_s, base) + random.uniform(0, self.retry.jitter_s))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
