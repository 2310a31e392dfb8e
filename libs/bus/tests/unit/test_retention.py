"""Inbox rows outlive every record Kafka could still redeliver to the group."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agentbus.bus import BusSettings
from agentbus.bus.retention import BookkeepingRetentionError, inbox_retention

DAY_MS = 24 * 3600 * 1000


def test_a_week_long_topic_fits_the_default_thirty_days() -> None:
    plan = inbox_retention(BusSettings(), {"runs.events": 7 * DAY_MS})
    assert plan.prune_after == timedelta(days=30)
    assert plan.keep_forever == frozenset()


def test_a_topic_kept_longer_than_the_inbox_is_refused_with_the_fix() -> None:
    with pytest.raises(BookkeepingRetentionError) as refused:
        inbox_retention(
            BusSettings(bookkeeping_retention_days=30),
            {"runs.events": 7 * DAY_MS, "usage.records": 400 * DAY_MS},
        )
    message = str(refused.value)
    assert "usage.records (400 days)" in message
    assert "at least 400" in message
    assert "BOOKKEEPING_RETENTION_DAYS" in message


def test_a_fractional_retention_rounds_the_advice_up() -> None:
    with pytest.raises(BookkeepingRetentionError, match="at least 2"):
        inbox_retention(BusSettings(bookkeeping_retention_days=1), {"t": int(1.5 * DAY_MS)})


def test_infinite_topics_are_kept_forever_and_never_refused() -> None:
    plan = inbox_retention(
        BusSettings(bookkeeping_retention_days=8),
        {"audit.log": -1, "workflows.events": -1, "runs.events": 7 * DAY_MS},
    )
    assert plan.keep_forever == {"audit.log", "workflows.events"}
    assert plan.prune_after == timedelta(days=8)


def test_no_topics_no_constraint() -> None:
    assert inbox_retention(BusSettings(bookkeeping_retention_days=0.5), {}).keep_forever == set()
