"""Prices: the vendored LiteLLM price table, per-deployment overrides, and cost arithmetic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from .config import DeploymentConfig
from .domain import Usage, money

__all__ = ["Price", "PriceTable", "load_price_table"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per input and per output token."""

    input_per_token: Decimal
    output_per_token: Decimal

    def cost(self, usage: Usage) -> Decimal:
        """price x tokens, exactly."""
        return (
            self.input_per_token * usage.prompt_tokens
            + self.output_per_token * usage.completion_tokens
        )

    def bound(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """The cost of a call of at most these token counts."""
        return self.cost(Usage(prompt_tokens, completion_tokens))


FREE = Price(_ZERO, _ZERO)


class PriceTable:
    """Model name -> price; a deployment's own price wins; unknown models cost nothing."""

    def __init__(self, entries: dict[str, dict[str, Any]]) -> None:
        self._prices = {
            name: Price(
                money(entry.get("input_cost_per_token", 0)),
                money(entry.get("output_cost_per_token", 0)),
            )
            for name, entry in entries.items()
        }
        self._context = {
            name: int(entry["max_input_tokens"])
            for name, entry in entries.items()
            if isinstance(entry.get("max_input_tokens"), int)
        }

    def __contains__(self, model: str) -> bool:
        return model in self._prices

    def for_deployment(self, deployment: DeploymentConfig) -> Price:
        """The price of one deployment's calls."""
        if deployment.price is not None:
            return Price(deployment.price.input_per_token, deployment.price.output_per_token)
        return self._prices.get(deployment.model, FREE)

    def context_window(self, model: str) -> int | None:
        """The table's input-token limit for `model`, if it knows it."""
        return self._context.get(model)


def load_price_table() -> PriceTable:
    """The price table vendored from LiteLLM (see data/NOTICE.md)."""
    text = resources.files("model_router").joinpath("data/model_prices.json").read_text()
    return PriceTable(json.loads(text))
