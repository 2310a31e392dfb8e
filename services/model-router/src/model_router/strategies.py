"""Routing strategies: the order in which an alias's deployments are tried (pure)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from .config import AliasConfig, DeploymentConfig, Strategy
from .pricing import Price

__all__ = ["LatencyTracker", "order_deployments"]

_UNKNOWN_LATENCY_S = 0.0  # untried deployments go first, so they get measured


class LatencyTracker:
    """Exponentially weighted moving average of call latency per deployment (per process)."""

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self._ewma: dict[str, float] = {}

    def observe(self, deployment_id: str, seconds: float) -> None:
        """Fold one measured latency into the average."""
        previous = self._ewma.get(deployment_id)
        self._ewma[deployment_id] = (
            seconds if previous is None else previous + self.alpha * (seconds - previous)
        )

    def get(self, deployment_id: str) -> float:
        """The current average (0 for a deployment never measured)."""
        return self._ewma.get(deployment_id, _UNKNOWN_LATENCY_S)


def order_deployments(
    alias: AliasConfig,
    deployments: Sequence[DeploymentConfig],
    *,
    price_of: Callable[[DeploymentConfig], Price],
    latency: LatencyTracker,
    rng: random.Random,
) -> list[DeploymentConfig]:
    """Deployments in the order to try them: the first is chosen, the rest are fallbacks."""
    candidates = list(deployments)
    if alias.strategy is Strategy.PRIORITY:
        return candidates
    if alias.strategy is Strategy.LOWEST_COST:
        if alias.tier is not None:
            minimum = alias.tier.rank
            meeting = [d for d in candidates if d.tier.rank >= minimum]
            candidates = meeting + [d for d in candidates if d.tier.rank < minimum]
        # sorted() is stable: equal prices keep the configured order.
        return sorted(candidates, key=lambda d: _cheaper_first(d, alias, price_of))
    if alias.strategy is Strategy.LOWEST_LATENCY:
        return sorted(candidates, key=lambda d: latency.get(d.id))
    return _weighted_order(candidates, rng)


def _cheaper_first(
    deployment: DeploymentConfig, alias: AliasConfig, price_of: Callable[[DeploymentConfig], Price]
) -> tuple[int, object]:
    below_tier = int(alias.tier is not None and deployment.tier.rank < alias.tier.rank)
    price = price_of(deployment)
    return below_tier, price.input_per_token + price.output_per_token


def _weighted_order(
    candidates: list[DeploymentConfig], rng: random.Random
) -> list[DeploymentConfig]:
    """Weighted random sampling without replacement: heavier first more often."""
    remaining = list(candidates)
    ordered: list[DeploymentConfig] = []
    while remaining:
        pick = rng.choices(range(len(remaining)), weights=[d.weight for d in remaining])[0]
        ordered.append(remaining.pop(pick))
    return ordered
