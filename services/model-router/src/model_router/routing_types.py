"""What the routing core returns or raises: plans, answers, stream events, failures."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .config import DeploymentConfig
from .domain import Completion, ErrorKind, ProviderError
from .pricing import Price
from .providers.base import Delta

__all__ = [
    "Failure",
    "Plan",
    "RetrySettings",
    "Routed",
    "RoutedEvent",
    "RoutingFailedError",
    "StreamFailed",
    "StreamStarted",
    "UnknownAliasError",
]


class UnknownAliasError(LookupError):
    """The tenant has no such alias."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One deployment that did not answer, and why."""

    deployment_id: str
    kind: ErrorKind
    message: str


class RoutingFailedError(Exception):
    """Every candidate deployment failed or was skipped; no answer."""

    def __init__(self, failures: list[Failure]) -> None:
        summary = "; ".join(f"{f.deployment_id}: {f.kind.value}" for f in failures) or "none"
        super().__init__(f"no deployment answered ({summary})")
        self.failures = failures

    @property
    def kind(self) -> ErrorKind:
        """The last failure's kind (what finally stopped the chain)."""
        return self.failures[-1].kind if self.failures else ErrorKind.BAD_REQUEST


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """The one retry loop's limits."""

    max_attempts: int = 3
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    jitter_s: float = 0.2
    max_retry_after_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Plan:
    """Which deployments a call will try, in order, under which alias."""

    tenant_id: str
    alias: str
    deployments: tuple[DeploymentConfig, ...]
    prices: dict[str, Price]

    def max_price(self) -> Price:
        """The dearest candidate's price: what a reservation must cover."""
        prices = [self.prices[d.id] for d in self.deployments] or [Price(Decimal(0), Decimal(0))]
        return Price(
            max(p.input_per_token for p in prices), max(p.output_per_token for p in prices)
        )


@dataclass(frozen=True, slots=True)
class Routed:
    """An answer with where it came from and what it cost."""

    completion: Completion
    deployment: DeploymentConfig
    cost_usd: Decimal
    latency_s: float
    failures: tuple[Failure, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The first token arrived from this deployment; no fallback from here on."""

    deployment: DeploymentConfig


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The stream broke after its first token; `partial` is what the caller already got."""

    error: ProviderError
    deployment: DeploymentConfig
    partial: Routed


RoutedEvent = StreamStarted | Delta | Routed | StreamFailed
