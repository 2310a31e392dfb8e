"""SIGKILL the router mid-load, restart it: every request answered, none charged twice."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import text

from agentbus.storage import create_engine
from agentbus.testing import consume, create_topics, produce, raw_record, unique

from ..processes import RouterProcess, router_env
from .test_kafka import local_routing, request

pytestmark = pytest.mark.integration

REQUESTS = 60


async def ledger(database_url: str) -> tuple[int, Decimal, int, int]:
    """(ledger rows, their total cost in nanos, spent nanos, reserved nanos) of the tenant."""
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT cost_usd FROM router_call WHERE tenant_id = 'load'"))
        ).all()
        counter = (
            await conn.execute(
                text(
                    "SELECT usd_spent_nanos, usd_reserved_nanos FROM router_budget_counter "
                    "WHERE tenant_id = 'load' AND length(period) = 10"
                )
            )
        ).one()
    await engine.dispose()
    total = sum((Decimal(r[0]) for r in rows), Decimal(0)) * 10**9
    return len(rows), total, int(counter[0]), int(counter[1])


async def test_sigkill_mid_load_loses_nothing_and_charges_once(
    tmp_path, database_url, kafka_bootstrap
):
    topics = {"requests": unique("model.requests"), "replies": unique("model.responses")}
    await create_topics(kafka_bootstrap, topics.values(), partitions=3)
    # 30 ms per call: the kill lands while calls are in flight between prepare and record.
    routing = local_routing(
        tmp_path / "routing.yaml",
        {"load": {"budget": {"day_usd": "100"}}},
        latency_ms=30,
    )
    env = router_env(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        routing=routing,
        keys={},
        group=unique("model-router"),
        consume=True,
        MODEL_ROUTER_REQUEST_TOPIC=topics["requests"],
        MODEL_ROUTER_REPLY_TOPIC=topics["replies"],
        MODEL_ROUTER_BUS__OUTBOX_RELAY_GRACE_S="0.5",
    )
    envelopes = [request("load", unique("run"), text=f"question {i}") for i in range(REQUESTS)]
    await produce(kafka_bootstrap, topics["requests"], [raw_record(e) for e in envelopes])
    first = RouterProcess(tmp_path, env=env, name="first").start()
    try:
        await consume(kafka_bootstrap, topics["replies"], count=10, timeout_s=60)
    finally:
        first.kill()
    second = RouterProcess(tmp_path, env=env, name="second").start()
    try:
        # Replies may repeat after a crash (at-least-once publishing); count distinct ids.
        seen: set[str] = set()
        count = REQUESTS
        while len(seen) < REQUESTS:
            replies = await consume(kafka_bootstrap, topics["replies"], count=count, timeout_s=60)
            seen = {json.loads(r.value)["request_id"] for r in replies}
            count = len(replies) + REQUESTS - len(seen)
    finally:
        second.stop()
    assert seen == {e.id for e in envelopes}
    rows, total_nanos, spent, reserved = await ledger(database_url)
    assert rows == REQUESTS
    assert reserved == 0  # every hold taken before the kill was settled exactly once
    assert spent == total_nanos
    assert spent > 0
