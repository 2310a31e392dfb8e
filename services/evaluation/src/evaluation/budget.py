"""Budget alerts: a tenant's model spend nearing the model-router's budget for the period."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from agentbus.storage import Insert, UnitOfWork, prepared, table_of
from contracts.envelope import Envelope
from contracts.events.evaluation import AlertRaised, AlertResolved
from contracts.events.usage import UsageRecorded

from .alerts import publish_alert
from .evaluations import Topics
from .settings import AlertRule
from .store import AlertStateRepository, SpendRepository
from .tables import SpendRow

__all__ = ["BUDGET_METRIC", "TENANT_WIDE", "BudgetAlerts", "period_of", "spend_day"]

BUDGET_METRIC = "budget_used_fraction"
TENANT_WIDE = "all"
"""The `workflow` an alert about the whole tenant names (budgets are per tenant)."""


def spend_day(data: UsageRecorded, sent: datetime | None) -> str:
    """The day (UTC) a call counts on: the router's daily period, else when it was sent."""
    if len(data.budget_period) == 10:
        return data.budget_period
    return (sent or datetime.now(UTC)).astimezone(UTC).date().isoformat()


def period_of(day: str, period: str) -> tuple[str, str, str]:
    """(label, first day, last day) of the day's or month's budget period."""
    if period == "day":
        return day, day, day
    parsed = date.fromisoformat(day)
    last = calendar.monthrange(parsed.year, parsed.month)[1]
    return day[:7], f"{day[:7]}-01", f"{day[:7]}-{last:02d}"


def _new_spend(insert: Insert) -> Any:
    table = table_of(SpendRow)
    return insert(table).on_conflict_do_nothing().returning(table.c.event_id)


class BudgetAlerts:
    """The usage.records side of AgentOps: keep every call's spend, watch budget rules."""

    def __init__(self, topics: Topics, rules: Sequence[AlertRule]) -> None:
        self.topics = topics
        self.rules = [r for r in rules if r.metric == BUDGET_METRIC]

    async def on_usage(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        """Store the call's spend once; check the tenant's budget rules for its period."""
        data: UsageRecorded = envelope.data
        day = spend_day(data, envelope.time)
        inserted = await uow.session.exec(
            prepared(uow, _new_spend),
            params={
                "event_id": envelope.id,
                "tenant_id": uow.tenant_id,
                "day": day,
                "tokens": data.usage.total_tokens,
                "cost_usd": data.cost_usd,
            },
        )
        if inserted.first() is None:
            return  # a redelivered event: counted already
        for rule in self.rules:
            if rule.tenant == uow.tenant_id:
                await self.check(uow, rule, day)

    async def check(self, uow: UnitOfWork, rule: AlertRule, day: str) -> None:
        """Raise once when the period's spend reaches the fraction; resolve once below it."""
        assert rule.budget_usd is not None  # the settings refuse a budget rule without one
        label, first, last = period_of(day, rule.budget_period)
        state = await AlertStateRepository(uow).locked(rule.name)
        # A call late from an earlier period must not flip (or re-raise) a later period's state.
        if state.period is not None and label < state.period:
            return
        spent = await SpendRepository(uow).total(first, last)
        fraction = float(spent / rule.budget_usd)
        crossed = fraction >= rule.threshold
        if crossed == state.firing:
            return
        state.firing, state.value, state.changed_at = crossed, fraction, datetime.now(UTC)
        state.period = label
        AlertStateRepository(uow).add(state)
        event: AlertRaised | AlertResolved
        if crossed:
            event = AlertRaised(
                rule=rule.name,
                workflow=rule.workflow or TENANT_WIDE,
                metric=BUDGET_METRIC,
                value=round(fraction, 6),
                threshold=rule.threshold,
                window_s=_seconds(first, last),
                details={
                    "period": label,
                    "spent_usd": str(spent),
                    "budget_usd": str(rule.budget_usd),
                },
            )
        else:
            event = AlertResolved(
                rule=rule.name,
                workflow=rule.workflow or TENANT_WIDE,
                metric=BUDGET_METRIC,
                value=round(fraction, 6),
                threshold=rule.threshold,
            )
        publish_alert(uow, self.topics, event)


def _seconds(first: str, last: str) -> int:
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    return days * 86400
