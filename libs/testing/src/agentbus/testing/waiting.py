"""Bounded waiting for asynchronous outcomes, with tenacity rather than bare sleeps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

__all__ = ["eventually"]


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0, what: str = "condition"
) -> None:
    """Poll `check` every 0.1 s until it is true; AssertionError after `timeout_s`."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(0.1),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    ):
        with attempt:
            assert await check(), f"{what} not met within {timeout_s}s"
