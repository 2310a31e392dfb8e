"""Budget rules: periods, the day a call counts on, and rules the settings refuse."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from evaluation.budget import period_of, spend_day
from evaluation.settings import AlertRule
from pydantic import ValidationError

from contracts.events.usage import UsageRecorded
from contracts.types import TokenUsage


def test_periods_cover_the_day_or_the_whole_month() -> None:
    assert period_of("2026-02-14", "day") == ("2026-02-14", "2026-02-14", "2026-02-14")
    assert period_of("2026-02-14", "month") == ("2026-02", "2026-02-01", "2026-02-28")
    assert period_of("2028-02-14", "month")[2] == "2028-02-29"


def test_a_call_counts_on_the_routers_day_else_when_it_was_sent() -> None:
    def call(period: str) -> UsageRecorded:
        return UsageRecorded(
            request_id=str(uuid.uuid4()),
            alias="a",
            provider="local",
            model="m",
            usage=TokenUsage(prompt_tokens=1, completion_tokens=1),
            cost_usd=Decimal("0.1"),
            budget_period=period,
        )

    sent = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert spend_day(call("2026-11-20"), sent) == "2026-11-20"
    assert spend_day(call("2026-11"), sent) == "2026-11-21"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metric": "budget_used_fraction", "threshold": 0.8}, "needs budget_usd"),
        (
            {"metric": "budget_used_fraction", "threshold": 80, "budget_usd": "10"},
            "fraction in",
        ),
        ({"metric": "error_rate", "threshold": 0.2}, "needs a workflow"),
    ],
)
def test_incomplete_rules_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertRule.model_validate({"name": "r", "tenant": "acme", **fields})
