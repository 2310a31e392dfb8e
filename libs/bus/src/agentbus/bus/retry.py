"""Retries of transient failures with exponential backoff and jitter (tenacity)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from .errors import is_transient
from .settings import RetryPolicy

__all__ = ["AttemptsExhaustedError", "run_with_retries"]

T = TypeVar("T")


class AttemptsExhaustedError(Exception):
    """Raised with the last error as `__cause__` and the number of attempts made."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"{attempts} attempt(s): {last}")
        self.attempts = attempts
        self.last = last


async def run_with_retries(
    fn: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, BaseException], None] | None = None,
    first_error: BaseException | None = None,
) -> T:
    """Run `fn(attempt)`, retrying transient errors only; AttemptsExhaustedError when done.

    `first_error` is the failure of an attempt 1 made elsewhere (in a batch): the count,
    the backoff and the transient-only rule go on from there.
    """
    if first_error is None:
        # The common case costs one call: the retry machinery is built only after a failure.
        try:
            return await fn(1)
        except Exception as exc:
            first_error = exc
    done = 0
    if first_error is not None:
        done = 1
        if not is_transient(first_error) or policy.max_attempts <= 1:
            raise AttemptsExhaustedError(1, first_error) from first_error
        if on_retry is not None:
            on_retry(1, first_error)
        await asyncio.sleep(_backoff(policy)(1))
    base_wait = _backoff(policy)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(state.attempt_number + done, error)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts - done),
        wait=lambda state: base_wait(state.attempt_number + done),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = done
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number + done
                return await fn(attempts)
    except Exception as exc:
        raise AttemptsExhaustedError(attempts, exc) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


def _backoff(policy: RetryPolicy) -> Callable[[int], float]:
    """Seconds to wait after failed attempt n: exponential, capped, plus jitter."""

    def wait(attempt: int) -> float:
        exponential = policy.initial_backoff_s * float(2 ** (attempt - 1))
        return min(policy.max_backoff_s, exponential) + random.uniform(0, policy.jitter_s)

    return wait
