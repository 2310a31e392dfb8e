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

KEY = "key-shared-tenant"
TENANT = "shared"
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


def routing(path: Path, url: str, tenant: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "deployments": [
                    {"id": "oa", "provider": "openai", "model": "metered-model",
                     "endpoint": f"{url}/v1",
                     "price": {"input_per_token": "0.000001", "output_per_token": "0.000002"}},
                ],
                "aliases": {"fast": {"deployments": ["oa"]}},
                "tenants": {TENANT: tenant},
            }
        )
    )
    return path


def two_routers(tmp_path, database_url, kafka_bootstrap, routing_file) -> list[RouterProcess]:
    env = router_env(
        database_url=database_url,
        bootstrap=kafka_bootstrap,
        routing=routing_file,
        keys={TENANT: KEY},
        group=unique("router"),
        consume=False,
    )
    processes = [RouterProcess(tmp_path, env=env, name=f"router-{i}") for i in range(2)]
    for process in processes:
        process.start()
    return processes


async def fire(processes: list[RouterProcess]) -> list[int]:
    """50 concurrent calls, alternating between the two processes."""
    body = {
        "model": "fast",
        "messages": [{"role": "user", "content": MESSAGE}],
        "max_tokens": 5,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
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
                {"t": TENANT},
            )
        ).one()
    await engine.dispose()
    return Decimal(row[0]) / 10**9, int(row[1])


async def test_budget_holds_across_two_processes(tmp_path, database_url, kafka_bootstrap, fake):
    providers, url = fake
    budget = COST * ALLOWED
    routing_file = routing(tmp_path / "routing.yaml", url, {"budget": {"day_usd": str(budget)}})
    processes = two_routers(tmp_path, database_url, kafka_bootstrap, routing_file)
    try:
        statuses = await fire(processes)
    finally:
        for process in processes:
            process.stop()
    assert providers.calls["metered-model"] == ALLOWED  # counted at the provider
    assert statuses.count(200) == ALLOWED
    assert statuses.count(402) == CONCURRENT - ALLOWED
    spent, reserved = await spent_usd(database_url)
    assert spent == budget
    assert reserved == 0


async def test_rate_limit_holds_across_two_processes(tmp_path, database_url, kafka_bootstrap, fake):
    providers, url = fake
    limits = {"rate_limit": {"requests_per_minute": ALLOWED}}
    routing_file = routing(tmp_path / "routing.yaml", url, limits)
    processes = two_routers(tmp_path, database_url, kafka_bootstrap, routing_file)
    try:
        # Fixed one-minute windows: keep the burst inside one window.
        while time.time() % 60 > 50:
            await asyncio.sleep(0.5)
        statuses = await fire(processes)
    finally:
        for process in processes:
            process.stop()
    assert providers.calls["metered-model"] == ALLOWED
    assert statuses.count(200) == ALLOWED
    assert statuses.count(429) == CONCURRENT - ALLOWED
