"""A budget-nearly-spent rule on the real broker (SQLite and PostgreSQL): the tenant's metered
spend (usage.records) reaching 80% of its model-router budget raises one alert, signed to a
real webhook receiver, even when the calls that cross it are handled concurrently; it resolves
once when a new budget period starts, a late call of the old period changes nothing, and the
next crossing raises again. Another tenant's spend never counts."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaProducer
from evaluation.settings import AlertRule, WebhookTarget
from evaluation.webhooks import verify
from pydantic import SecretStr

from agentbus.testing import eventually, unique
from contracts.envelope import encode, new_envelope
from contracts.events.evaluation import AlertRaised, AlertResolved
from contracts.events.usage import UsageRecorded
from contracts.types import StepRef, TokenUsage

from .harness import OTHER, TENANT, make_settings, make_topics, read_events, running
from .test_agentops import SECRET, webhook_receiver

pytestmark = pytest.mark.integration


def usage(cost: str, day: str, run_id: str | None) -> UsageRecorded:
    return UsageRecorded(
        step=StepRef(run_id=run_id, step_id="classify") if run_id else None,
        request_id=str(uuid.uuid4()),
        alias="default",
        provider="local",
        model="local-small",
        usage=TokenUsage(prompt_tokens=30, completion_tokens=10),
        cost_usd=Decimal(cost),
        budget_period=day,
    )


async def test_budget_nearly_spent_fires_once_per_crossing(
    kafka_bootstrap: str, database_url: str
) -> None:
    prefix = unique("budget") + "."
    await make_topics(kafka_bootstrap, prefix)
    rule = AlertRule(
        name="acme-budget-80",
        tenant=TENANT,
        metric="budget_used_fraction",
        threshold=0.8,
        budget_usd=Decimal("1.00"),
        budget_period="month",
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()

    async def send(tenant: str, data: UsageRecorded, times: int = 1) -> None:
        run_id = data.step.run_id if data.step else None
        record = encode(new_envelope(data, source="model-router", tenant_id=tenant, run_id=run_id))
        for _ in range(times):  # the same event again is a redelivery: counted once
            await producer.send_and_wait(
                f"{prefix}usage.records", record.value, key=record.key, headers=list(record.headers)
            )

    try:
        async with webhook_receiver() as receiver:
            settings = make_settings(
                kafka_bootstrap,
                database_url,
                prefix,
                alerts=[rule],
                webhooks={TENANT: WebhookTarget(url=receiver.url, secret=SecretStr(SECRET))},
            )
            async with running(settings):

                async def webhooks(n: int) -> bool:
                    return len(receiver.received) >= n

                # Another tenant spends five times acme's budget: acme's rule stays quiet.
                await send(OTHER, usage("5.00", "2026-10-03", "run-globex"))
                # October: ten calls of 0.09 on ten runs (concurrent handlers), one without a
                # run (an HTTP API call counts too): 0.99 of 1.00, crossing 0.8 on the way.
                for i in range(10):
                    await send(TENANT, usage("0.09", f"2026-10-{i + 1:02d}", f"run-{i}"))
                await send(TENANT, usage("0.09", "2026-10-20", None))
                await eventually(lambda: webhooks(1), timeout_s=30, what="budget alert raised")
                # Ordered from here on (one run, one partition).
                await send(TENANT, usage("0.01", "2026-10-30", "run-tail"))  # still over: quiet
                # November: resolved; sent twice, counted once (else 0.90 below).
                await send(TENANT, usage("0.05", "2026-11-01", "run-tail"), times=2)
                await send(TENANT, usage("0.30", "2026-10-31", "run-tail"))  # late October: quiet
                await send(TENANT, usage("0.80", "2026-11-02", "run-tail"))  # 0.85: raised again
                await eventually(lambda: webhooks(3), timeout_s=30, what="resolve and raise")
    finally:
        await producer.stop()

    alerts = [
        e.data
        for e in await read_events(kafka_bootstrap, f"{prefix}evaluations.events")
        if isinstance(e.data, AlertRaised | AlertResolved)
    ]
    assert [type(a).__name__ for a in alerts] == ["AlertRaised", "AlertResolved", "AlertRaised"]
    first, resolved, again = alerts
    assert first.metric == "budget_used_fraction"
    assert first.workflow == "all"
    assert first.details["period"] == "2026-10"
    assert first.details["budget_usd"] == "1.00"
    assert 0.8 <= first.value < 0.9  # the crossing call's total: the 9th or 10th 0.09
    assert first.window_s == 31 * 86400
    assert resolved.value == pytest.approx(0.05)
    assert again.details["period"] == "2026-11"
    assert again.value == pytest.approx(0.85)
    assert again.details["spent_usd"].startswith("0.85")
    audits = sorted(
        e.data.action
        for e in await read_events(kafka_bootstrap, f"{prefix}audit.log")
        if e.data.resource_id == "acme-budget-80"
    )
    assert audits == ["alert.raise", "alert.raise", "alert.resolve"]  # each change audited
    kinds = []
    for payload, signature in receiver.received:
        assert verify(SECRET, payload, signature)
        body = json.loads(payload)
        assert body["tenant_id"] == TENANT
        kinds.append(body["type"])
    assert kinds == [
        "agentbus.alert.raised.v1",
        "agentbus.alert.resolved.v1",
        "agentbus.alert.raised.v1",
    ]
