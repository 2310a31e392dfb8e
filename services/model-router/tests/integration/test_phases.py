"""prepare / perform / record against SQLite and PostgreSQL: holds, cache, ledger."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal

import pytest
from model_router.calls import CallSpec
from model_router.config import BudgetConfig
from model_router.domain import CallOutcome
from model_router.store import BudgetRepository
from model_router.tables import CallRecord
from sqlalchemy import text
from sqlmodel import select

from ..conftest import chat, local_config

pytestmark = pytest.mark.integration


async def run(service, uow_factory, spec):
    async with uow_factory(spec.tenant_id) as uow:
        prepared = await service.prepare(spec, uow)
        await uow.commit()
    result = await service.perform(prepared)
    async with uow_factory(spec.tenant_id) as uow:
        await service.record(result, uow)
        await uow.commit()
    return result


async def test_answer_is_metered_and_recorded(service_for, uow_factory):
    service = service_for(local_config())
    spec = CallSpec("t1", "req-1", "fast", chat("hello there"))
    result = await run(service, uow_factory, spec)
    assert result.outcome is CallOutcome.OK
    usage = result.usage
    assert (
        result.cost_usd
        == Decimal("0.000001") * usage.prompt_tokens + Decimal("0.000002") * usage.completion_tokens
    )
    async with uow_factory("t1") as uow:
        rows = (await uow.session.exec(select(CallRecord))).all()
        assert [r.request_id for r in rows] == ["req-1"]
        counter = await BudgetRepository(uow).spent(result.prepared.day)
        assert counter is not None
        assert counter.usd_reserved_nanos == 0
        assert counter.usd_spent_nanos == int(result.cost_usd * 10**9)


async def outbox(uow_factory, tenant):
    from agentbus.storage.tables import OutboxEntry

    async with uow_factory(tenant) as uow:
        rows = (await uow.session.exec(select(OutboxEntry))).all()
        return {row.event_id: (row.topic, json.loads(row.value)) for row in rows}


async def test_every_call_leaves_usage_and_audit_records(service_for, uow_factory):
    service = service_for(local_config(t1={"budget": {"day_usd": "0.0000001"}}))
    await run(service, uow_factory, CallSpec("t2", "paid", "fast", chat("secret 4111")))
    await run(service, uow_factory, CallSpec("t1", "refused", "fast", chat()))
    paid = await outbox(uow_factory, "t2")
    topic, usage = paid["paid:usage"]
    assert topic == "usage.records"
    assert Decimal(usage["cost_usd"]) > 0
    topic, audit = paid["paid:audit"]
    assert topic == "audit.log"
    assert audit["outcome"] == "succeeded"
    assert audit["model"]["provider"] == "local"
    assert audit["prompt"]["masked"] is None  # a hash only: the tenant did not opt in
    assert "4111" not in json.dumps(audit)
    refused = await outbox(uow_factory, "t1")
    assert "refused:usage" not in refused
    assert refused["refused:audit"][1]["outcome"] == "denied"
    assert refused["refused:audit"][1]["error_code"] == "budget.exceeded"


async def test_budget_refuses_before_any_call(service_for, uow_factory):
    config = local_config(t1={"budget": {"day_usd": "0.0000001"}})
    service = service_for(config)
    result = await run(service, uow_factory, CallSpec("t1", "req-2", "fast", chat()))
    assert result.outcome is CallOutcome.BUDGET_EXCEEDED
    assert service.router.providers["local"].calls == {}


@pytest.mark.parametrize(
    ("limits", "exceeded"),
    [
        (BudgetConfig(day_usd=Decimal("0.5"), month_usd=Decimal("100")), "day"),
        (BudgetConfig(day_tokens=1_000, month_tokens=150), "month"),
    ],
)
async def test_a_hold_one_period_refuses_takes_nothing_from_the_other(
    uow_factory, limits, exceeded
):
    async with uow_factory("t1") as uow:
        budgets = BudgetRepository(uow)
        kept = await budgets.reserve(
            "req-a", usd_nanos=400_000_000, tokens=100, day="2026-11-21", month="2026-11",
            limits=limits,
        )  # fmt: skip
        refused = await budgets.reserve(
            "req-b", usd_nanos=400_000_000, tokens=100, day="2026-11-21", month="2026-11",
            limits=limits,
        )  # fmt: skip
        await uow.commit()
    assert (kept.ok, kept.new) == (True, True)
    assert (refused.ok, refused.exceeded) == (False, exceeded)
    async with uow_factory("t1") as uow:
        budgets = BudgetRepository(uow)
        for period in ("2026-11", "2026-11-21"):  # only the first hold is reserved in each
            counter = await budgets.spent(period)
            assert counter is not None
            assert (counter.usd_reserved_nanos, counter.tokens_reserved) == (400_000_000, 100)
        assert await budgets.get("t1", "req-b") is None  # the refused hold is gone
        assert await budgets.settle("req-a", usd_nanos=300_000_000, tokens=90)
        assert not await budgets.settle("req-a", usd_nanos=300_000_000, tokens=90)
        await uow.commit()
    async with uow_factory("t1") as uow:
        counter = await BudgetRepository(uow).spent("2026-11-21")
        assert counter is not None
        assert (counter.usd_reserved_nanos, counter.usd_spent_nanos) == (0, 300_000_000)
        assert (counter.tokens_reserved, counter.tokens_spent) == (0, 90)


async def test_cache_hit_is_free_and_never_crosses_tenants(service_for, uow_factory):
    service = service_for(local_config())
    request = chat("same question", temperature=0)
    first = await run(service, uow_factory, CallSpec("t1", "a", "fast", request))
    second = await run(service, uow_factory, CallSpec("t1", "b", "fast", request))
    other = await run(service, uow_factory, CallSpec("t2", "c", "fast", request))
    assert first.outcome is CallOutcome.OK
    assert second.outcome is CallOutcome.CACHED
    assert second.cost_usd == 0
    assert other.outcome is CallOutcome.OK
    assert service.router.providers["local"].calls == {"local-a": 2}


async def test_prepare_twice_holds_once_and_record_settles_once(service_for, uow_factory):
    config = local_config(t1={"budget": {"day_usd": "10"}})
    service = service_for(config)
    spec = CallSpec("t1", "req-dup", "fast", chat("hello"))
    for _ in range(2):  # a redelivery after a crash runs prepare again
        async with uow_factory("t1") as uow:
            prepared = await service.prepare(spec, uow)
            await uow.commit()
    async with uow_factory("t1") as uow:
        counter = await BudgetRepository(uow).spent(prepared.day)
        assert counter is not None
        held = counter.usd_reserved_nanos
    result = await service.perform(prepared)
    for _ in range(2):
        async with uow_factory("t1") as uow:
            await service.record(result, uow)
            await uow.commit()
    async with uow_factory("t1") as uow:
        counter = await BudgetRepository(uow).spent(prepared.day)
        assert counter is not None
        assert counter.usd_reserved_nanos == 0
        assert counter.usd_spent_nanos == int(result.cost_usd * 10**9)
    assert held > 0


async def test_stale_http_holds_are_released_and_kafka_holds_kept(service_for, uow_factory):
    from datetime import UTC, datetime, timedelta

    service = service_for(local_config(t1={"budget": {"day_usd": "10"}}))
    holds = {}
    for request_id in ("http-abandoned", "event-pending"):
        async with uow_factory("t1") as uow:
            prepared = await service.prepare(CallSpec("t1", request_id, "fast", chat()), uow)
            await uow.commit()
        async with uow_factory("t1") as uow:
            counter = await BudgetRepository(uow).spent(prepared.day)
            assert counter is not None
            holds[request_id] = counter.usd_reserved_nanos - sum(holds.values())
    assert await service.release_stale_http_holds(uow_factory, 900) == 0  # not stale yet
    later = datetime.now(UTC) + timedelta(hours=1)
    service.now = lambda: later
    assert await service.release_stale_http_holds(uow_factory, 900) == 1
    async with uow_factory("t1") as uow:
        counter = await BudgetRepository(uow).spent(prepared.day)
        assert counter is not None
        assert counter.usd_reserved_nanos == holds["event-pending"]
        assert counter.usd_spent_nanos == 0


async def test_tokens_per_minute_limit_refuses_with_a_retry_hint(service_for, uow_factory):
    # Each call holds prompt (6 + 4) + max_tokens (10) = 20 tokens against the window.
    from datetime import UTC, datetime

    service = service_for(local_config(t1={"rate_limit": {"tokens_per_minute": 45}}))
    instant = datetime.now(UTC)
    service.now = lambda: instant  # one window, whatever the wall clock does
    outcomes = []
    for i in range(3):
        spec = CallSpec("t1", f"tpm-{i}", "fast", chat("x" * 24, max_tokens=10))
        outcomes.append(await run(service, uow_factory, spec))
    assert [r.outcome for r in outcomes] == [
        CallOutcome.OK,
        CallOutcome.OK,
        CallOutcome.RATE_LIMITED,
    ]
    refused = outcomes[-1].error
    assert refused is not None
    assert refused.retryable
    assert 0 <= refused.details["retry_after_s"] <= 60
    assert service.router.providers["local"].calls == {"local-a": 2}


async def test_concurrent_holds_and_settlements_of_one_tenant_all_land(uow_factory):
    # Many transactions at once take and settle holds on the same month and day rows. On
    # PostgreSQL each locks both rows; read in heap order (bitmap scans, forced here, which
    # the planner picks on its own once it has statistics) the order varies between
    # snapshots, and without a fixed lock order some of them deadlock.
    limits = BudgetConfig(day_usd=Decimal("100"), month_usd=Decimal("1000"))

    @contextlib.asynccontextmanager
    async def unit():
        async with uow_factory("t1") as uow:
            if uow.session.get_bind().dialect.name == "postgresql":
                connection = await uow.session.connection()
                await connection.execute(text("SET LOCAL enable_indexscan = off"))
                await connection.execute(text("SET LOCAL enable_seqscan = off"))
            yield uow

    async def one(n: str) -> None:
        async with unit() as uow:
            hold = await BudgetRepository(uow).reserve(
                f"req-{n}", usd_nanos=2_000, tokens=2, day="2026-11-21", month="2026-11",
                limits=limits,
            )  # fmt: skip
            await uow.commit()
        assert hold.ok
        async with unit() as uow:
            assert await BudgetRepository(uow).settle(f"req-{n}", usd_nanos=1_000, tokens=1)
            await uow.commit()

    for wave in range(10):  # bounded: 10 waves of 16
        await asyncio.gather(*(one(f"{wave}-{n}") for n in range(16)))
    async with uow_factory("t1") as uow:
        budgets = BudgetRepository(uow)
        for period in ("2026-11", "2026-11-21"):
            counter = await budgets.spent(period)
            assert counter is not None
            assert (counter.usd_reserved_nanos, counter.usd_spent_nanos) == (0, 160_000)
            assert (counter.tokens_reserved, counter.tokens_spent) == (0, 160)
