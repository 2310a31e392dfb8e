"""Retries of transient failures with exponential backoff and jitter (tenacity)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
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
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run `fn`, retrying transient errors only; raise AttemptsExhaustedError when done trying."""

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(state.attempt_number, error)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=wait_exponential_jitter(
            multiplier=policy.initial_backoff_s,
            max=policy.max_backoff_s,
            jitter=policy.jitter_s,
        ),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    attempts = 0
    try:
        async for attempt in retrying:
            with attempt:
                attempts = attempt.retry_state.attempt_number
                return await fn()
    except Exception as exc:
        raise AttemptsExhaustedError(attempts, exc) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
