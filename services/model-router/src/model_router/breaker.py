"""Circuit breaker per deployment: closed, open, half-open; time is passed in, so it is pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["BreakerBoard", "BreakerState", "CircuitBreaker"]


class BreakerState(IntEnum):
    """Breaker states; the int is the value of the state gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one probe through after `cooldown_s`."""

    threshold: int
    cooldown_s: float
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    def state(self, now: float) -> BreakerState:
        """The state at time `now` (monotonic seconds)."""
        if self.opened_at is None:
            return BreakerState.CLOSED
        if now - self.opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self, now: float) -> bool:
        """Whether a call may go out now; half-open admits a single probe at a time."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        """A call succeeded: close."""
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self, now: float) -> None:
        """A call failed: count it; open at the threshold, re-open on a failed probe."""
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.opened_at = now
        self.probing = False


class BreakerBoard:
    """One breaker per deployment id, created on first use."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, deployment_id: str) -> CircuitBreaker:
        """The breaker of `deployment_id`."""
        breaker = self._breakers.get(deployment_id)
        if breaker is None:
            breaker = CircuitBreaker(self.threshold, self.cooldown_s)
            self._breakers[deployment_id] = breaker
        return breaker

    def states(self, now: float) -> dict[str, BreakerState]:
        """Every known breaker's state at `now`."""
        return {name: b.state(now) for name, b in self._breakers.items()}
