"""Budgets and rate limits hold across two router processes sharing one database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from agentbus.storage import create_engine
from agentbus.testing import unique

from ..fakes import FakeProviders, serve_in_thread
from ..processes import RouterProcess, router_env

pytestmark = pytest.mark.integration

KEYS = {"budgeted": "key-budgeted-tenant", "limited": "key-limited-tenant"}
# The fake answers 10 prompt and 5 completion tokens. The message below is 24 characters,
# which the router estimates at 6 + 4 (message overhead) = 10 prompt tokens, and max_tokens
# caps the completion at 5: the hold equals the real charge, so "allows 10" is exact.
MESSAGE = "x" * 24
COST = Decimal("0.000001") * 10 + Decimal("0.000002") * 5
CONCURRENT = 50
ALLOWED = 10


@pytest.fixture
def fake() -> Iterator[tuple[FakeProviders, str]]:
    providers = FakeProviders()
    with serve_in_thread(providers.app) as url:
        yield providers, url


def routing(path: Path, url: str, tenants: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "deployments": [
                    {
                        "id": "oa",
                        "provider": "openai",
                        "model": "metered-model",
                        "endpoint": f"{url}/v1",
                        "price": {"input_per_token": "0.000001", "output_per_token": "0.000002"},
                    },
                ],
                "aliases": {"fast": {"deployments": ["oa"]}},
                "tenants": tenants,
            }
        )
    )
    return path


def two_routers(tmp_path, database_url, kafka_bootstrap, routing_file) -> list[RouterProcess]:
    env = router_env(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        routing=routing_file,
        keys=KEYS,
        group=unique("router"),
        consume=False,
    )
    processes = [RouterProcess(tmp_path, env=env, name=f"router-{i}") for i in range(2)]
    for process in processes:
        process.spawn()
    for process in processes:
        process.wait_ready()
    return processes


async def fire(processes: list[RouterProcess], tenant: str) -> list[int]:
    """50 concurrent calls of one tenant, alternating between the two processes."""
    body = {
        "model": "fast",
        "messages": [{"role": "user", "content": MESSAGE}],
        "max_tokens": 5,
    }
    headers = {"Authorization": f"Bearer {KEYS[tenant]}"}
    async with httpx.AsyncClient(timeout=60) as http:
        responses = await asyncio.gather(
            *(
                http.post(f"{processes[i % 2].url}/v1/chat/completions", json=body, headers=headers)
                for i in range(CONCURRENT)
            )
        )
    return [r.status_code for r in responses]


async def spent_usd(database_url: str) -> tuple[Decimal, int]:
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT usd_spent_nanos, usd_reserved_nanos FROM router_budget_counter "
                    "WHERE tenant_id = :t AND length(period) = 10"
                ),
                {"t": "budgeted"},
            )
        ).one()
    await engine.dispose()
    return Decimal(row[0]) / 10**9, int(row[1])


async def test_budget_and_rate_limit_hold_across_two_processes(
    tmp_path, database_url, kafka_bootstrap, fake
):
    providers, url = fake
    budget = COST * ALLOWED
    tenants = {
        "budgeted": {"budget": {"day_usd": str(budget)}},
        "limited": {"rate_limit": {"requests_per_minute": ALLOWED}},
    }
    routing_file = routing(tmp_path / "routing.yaml", url, tenants)
    processes = two_routers(tmp_path, database_url, kafka_bootstrap, routing_file)
    try:
        budgeted = await fire(processes, "budgeted")
        calls_within_budget = providers.calls["metered-model"]
        # Fixed one-minute windows: a burst must not straddle two of them.
        into_minute = time.time() % 60
        if into_minute > 50:
            await asyncio.sleep(60.5 - into_minute)
        limited = await fire(processes, "limited")
    finally:
        for process in processes:
            process.stop()
    assert calls_within_budget == ALLOWED  # counted at the provider
    assert budgeted.count(200) == ALLOWED
    assert budgeted.count(402) == CONCURRENT - ALLOWED
    spent, reserved = await spent_usd(database_url)
    assert spent == budget
    assert reserved == 0
    assert providers.calls["metered-model"] - calls_within_budget == ALLOWED
    assert limited.count(200) == ALLOWED
    assert limited.count(429) == CONCURRENT - ALLOWED
