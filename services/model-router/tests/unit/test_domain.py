"""Pure domain: estimates, cache keys, periods, breaker, prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from model_router.breaker import BreakerBoard, BreakerState, CircuitBreaker
from model_router.config import DeploymentConfig, PriceOverride
from model_router.domain import (
    ErrorKind,
    Usage,
    budget_periods,
    cache_key,
    estimate_prompt_tokens,
    rate_window,
)
from model_router.pricing import load_price_table

from ..conftest import chat


def test_prompt_estimate_counts_text_and_message_overhead():
    assert estimate_prompt_tokens(chat("x" * 24)) == 6 + 4


def test_cache_key_depends_on_tenant_alias_and_request():
    base = cache_key("t1", "fast", chat("a", temperature=0))
    assert base == cache_key("t1", "fast", chat("a", temperature=0))
    assert base != cache_key("t2", "fast", chat("a", temperature=0))
    assert base != cache_key("t1", "smart", chat("a", temperature=0))
    assert base != cache_key("t1", "fast", chat("b", temperature=0))


def test_budget_periods_and_rate_windows():
    now = datetime(2026, 3, 9, 23, 59, 30, tzinfo=UTC)
    assert budget_periods(now) == ("2026-03-09", "2026-03")
    assert rate_window(125.0, 60) == 120


def test_only_transient_kinds_are_retried():
    transient = {k for k in ErrorKind if k.transient}
    assert transient == {
        ErrorKind.CONNECTION,
        ErrorKind.TIMEOUT,
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER,
    }


def test_breaker_opens_at_threshold_half_opens_after_cooldown_and_reopens_on_failed_probe():
    breaker = CircuitBreaker(threshold=2, cooldown_s=10)
    breaker.failure(0)
    assert breaker.state(0) is BreakerState.CLOSED
    breaker.failure(1)
    assert breaker.state(1) is BreakerState.OPEN
    assert not breaker.allow(5)
    assert breaker.state(11) is BreakerState.HALF_OPEN
    assert breaker.allow(11)
    assert not breaker.allow(11)  # one probe at a time
    breaker.failure(12)
    assert breaker.state(12) is BreakerState.OPEN
    assert breaker.allow(23)
    breaker.success()
    assert breaker.state(23) is BreakerState.CLOSED


def test_board_reports_every_breaker():
    board = BreakerBoard(1, 5)
    board.get("a").failure(0)
    board.get("b")
    assert board.states(1) == {"a": BreakerState.OPEN, "b": BreakerState.CLOSED}


def test_vendored_prices_and_overrides():
    table = load_price_table()
    mini = DeploymentConfig(id="m", provider="openai", model="gpt-4o-mini", endpoint="http://x")
    price = table.for_deployment(mini)
    assert price.input_per_token == Decimal("1.5e-7")
    assert price.cost(Usage(1000, 100)) == Decimal("1.5e-7") * 1000 + Decimal("6e-7") * 100
    override = mini.model_copy(
        update={"price": PriceOverride(input_per_token=Decimal(1), output_per_token=Decimal(2))}
    )
    assert table.for_deployment(override).cost(Usage(3, 4)) == Decimal(11)
    unknown = mini.model_copy(update={"model": "not-in-table"})
    assert table.for_deployment(unknown).cost(Usage(10, 10)) == 0
