"""The official openai client against the router's HTTP API (plain, streamed, errors)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from model_router.app import create_app
from model_router.settings import (
    ModelRouterSettings,
    ReliabilitySettings,
    RouterBusSettings,
    RouterHttpSettings,
)
from model_router.tables import CallRecord
from sqlmodel import select

from agentbus.http import ApiKeyEntry
from agentbus.http.testing import serving
from agentbus.testing import unique

from ..fakes import COMPLETION_TOKENS, CUT, PROMPT_TOKENS, SERVER, FakeProviders, serve_in_thread

pytestmark = pytest.mark.integration

KEYS = {"t1": "key-tenant-one", "t2": "key-tenant-two"}


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeProviders, str]]:
    providers = FakeProviders(timeout_s=1.0)
    with serve_in_thread(providers.app) as url:
        yield providers, url


def write_routing(path: Path, url: str, tenants: dict[str, Any] | None = None) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "deployments": [
                    {
                        "id": "oa",
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "endpoint": f"{url}/v1",
                        "api_key_ref": "openai",
                    },
                    {
                        "id": "an",
                        "provider": "anthropic",
                        "model": "claude-haiku-4-5",
                        "endpoint": url,
                        "api_key_ref": "anthropic",
                    },
                ],
                "aliases": {
                    "fast": {"deployments": ["oa", "an"]},
                    "claude": {"deployments": ["an"]},
                },
                "tenants": tenants or {},
            }
        )
    )
    return path


def settings_for(routing: Path, database_url: str, bootstrap: str) -> ModelRouterSettings:
    return ModelRouterSettings(
        bus=RouterBusSettings(
            bootstrap_servers=bootstrap,
            consumer_group=unique("router"),
            database_url=database_url,
        ),
        http=RouterHttpSettings(
            api_keys=[
                ApiKeyEntry(key=key, tenant=tenant, subject=f"user-{tenant}")
                for tenant, key in KEYS.items()
            ]
        ),
        routing_config=routing,
        secrets={"openai": "sk-test", "anthropic": "ak-test"},
        reliability=ReliabilitySettings(max_attempts=1, read_timeout_s=1.0),
        consume=False,
    )


@pytest.fixture
async def router_url(fake, tmp_path, sqlite_url, kafka_bootstrap) -> AsyncIterator[str]:
    _, url = fake
    routing = write_routing(
        tmp_path / "routing.yaml", url, {"t2": {"budget": {"day_usd": "0.000001"}}}
    )
    app = create_app(settings_for(routing, sqlite_url, kafka_bootstrap))
    async with serving(app) as base:
        yield base


def client(base: str, key: str = KEYS["t1"]) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


async def test_openai_client_plain_call(router_url, fake):
    async with client(router_url) as oa:
        answer = await oa.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content == "fake answer"
    assert answer.model == "gpt-4o-mini"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )
    extension = answer.model_extra["agentbus"]
    # gpt-4o-mini in the vendored LiteLLM table: $0.15 / $0.60 per million tokens.
    expected = Decimal("1.5e-7") * PROMPT_TOKENS + Decimal("6e-7") * COMPLETION_TOKENS
    assert Decimal(extension["cost_usd"]) == expected


async def test_openai_client_streaming_is_metered(router_url, fake, caplog):
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    async with client(router_url) as oa:
        stream = await oa.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, usage, cost = [], None, None
        async for part in stream:
            if part.choices and part.choices[0].delta.content:
                pieces.append(part.choices[0].delta.content)
            if part.usage is not None:
                usage = part.usage
                cost = part.model_extra["agentbus"]["cost_usd"]
    assert "".join(pieces) == "fake answer"
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert cost is not None
    assert float(cost) > 0
    # The call's span is made current per step of the stream, never across a `yield` that
    # the response resumes in another context ("Failed to detach context", per stream).
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []


async def test_stream_fallback_before_first_token_and_error_after(router_url, fake):
    providers, _ = fake
    providers.script("gpt-4o-mini", SERVER)
    async with client(router_url) as oa:
        stream = await oa.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "x"}], stream=True
        )
        text = "".join([p.choices[0].delta.content or "" async for p in stream if p.choices])
    assert text == "fake answer"  # served by the Anthropic fallback, transparently
    providers.script("claude-haiku-4-5", CUT)
    async with client(router_url) as oa:
        stream = await oa.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}], stream=True
        )
        got: list[str] = []

        async def drain() -> None:
            async for part in stream:
                if part.choices:
                    got.append(part.choices[0].delta.content or "")

        with pytest.raises(openai.APIError, match="broke"):
            await drain()
    assert "".join(got) == "fake"


async def test_bad_key_is_401_and_models_lists_aliases(router_url):
    async with client(router_url, key="wrong") as oa:
        with pytest.raises(openai.AuthenticationError):
            await oa.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}]
            )
    async with client(router_url) as oa:
        models = await oa.models.list()
    assert sorted(m.id for m in models.data) == ["claude", "fast"]


async def test_budget_exceeded_and_invalid_requests_are_json_errors(router_url, fake):
    providers, _ = fake
    before = sum(providers.calls.values())
    async with httpx.AsyncClient(base_url=router_url) as http:
        headers = {"Authorization": f"Bearer {KEYS['t2']}"}
        body = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
        refused = await http.post("/v1/chat/completions", json=body, headers=headers)
        invalid = await http.post("/v1/chat/completions", json={"model": "fast"}, headers=headers)
        unknown = await http.post(
            "/v1/chat/completions", json={**body, "model": "nope"}, headers=headers
        )
        after_refusals = sum(providers.calls.values())
        rich = {"Authorization": f"Bearer {KEYS['t1']}", "Idempotency-Key": "once-only"}
        first = await http.post("/v1/chat/completions", json=body, headers=rich)
        again = await http.post("/v1/chat/completions", json=body, headers=rich)
    assert refused.status_code == 402
    assert refused.json()["code"] == "budget.exceeded"
    assert after_refusals == before  # refused before any provider call
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "request.invalid"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "model.unknown_alias"
    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["code"] == "request.duplicate"
    assert sum(providers.calls.values()) == before + 1


async def test_calls_are_in_the_tenant_ledger(router_url, sqlite_url):
    async with client(router_url) as oa:
        await oa.chat.completions.create(
            model="fast", messages=[{"role": "user", "content": "ledger"}]
        )
    from agentbus.storage import create_engine

    engine = create_engine(sqlite_url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(CallRecord.tenant_id, CallRecord.outcome))).all()
    await engine.dispose()
    assert ("t1", "ok") in [tuple(r) for r in rows]
