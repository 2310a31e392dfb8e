"""model.requests -> model.responses through the bus's I/O handler shape, on a real broker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from model_router.app import create_app
from model_router.settings import ModelRouterSettings, RouterBusSettings

from agentbus.http.testing import serving
from agentbus.testing import consume, create_topics, produce, raw_record, unique
from contracts.envelope import headers_to_dict, new_envelope
from contracts.events.model import ModelParameters, ModelRequested
from contracts.types import ChatMessage, Role, StepRef

pytestmark = pytest.mark.integration


def local_routing(path: Path, tenants: dict[str, Any] | None = None, **local: Any) -> Path:
    """Local deployments only; `local` tunes the primary's latency and failure injection."""
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "deployments": [
                    {
                        "id": "primary",
                        "provider": "local",
                        "model": "local-primary",
                        "local": local,
                        "price": {"input_per_token": "0.000001", "output_per_token": "0.000002"},
                    },
                    {"id": "backup", "provider": "local", "model": "local-backup"},
                ],
                "aliases": {"fast": {"deployments": ["primary", "backup"]}},
                "tenants": tenants or {},
            }
        )
    )
    return path


def request(tenant: str, run: str, text: str = "hello", **parameters: Any):
    return new_envelope(
        ModelRequested(
            step=StepRef(run_id=run, step_id="ask"),
            alias="fast",
            messages=[ChatMessage(role=Role.USER, content=text)],
            parameters=ModelParameters(**parameters),
        ),
        source="test",
        tenant_id=tenant,
        run_id=run,
    )


@pytest.fixture
async def topics(kafka_bootstrap) -> dict[str, str]:
    names = {"requests": unique("model.requests"), "replies": unique("model.responses")}
    names["dlq"] = f"{names['requests']}.dlq"
    await create_topics(kafka_bootstrap, names.values())
    return names


@pytest.fixture
async def router(tmp_path, database_url, kafka_bootstrap, topics) -> AsyncIterator[Any]:
    routing = local_routing(
        tmp_path / "routing.yaml",
        {
            "poor": {"budget": {"day_usd": "0.0000001"}},
            "limited": {"rate_limit": {"requests_per_minute": 1}},
        },
        fail_first=1,
    )
    settings = ModelRouterSettings(
        bus=RouterBusSettings(
            bootstrap_servers=kafka_bootstrap,
            consumer_group=unique("model-router"),
            database_url=database_url,
            outbox_relay_grace_s=0.5,
        ),
        routing_config=routing,
        request_topic=topics["requests"],
        reply_topic=topics["replies"],
    )
    app = create_app(settings)
    async with serving(app):
        await app.state.bus.wait_until_assigned()
        yield app


async def test_requests_get_replies_usage_and_budget_refusals(router, kafka_bootstrap, topics):
    ok = request("rich", unique("run"), temperature=0)
    refused = request("poor", unique("run"))
    limited = [request("limited", unique("run"), text=f"q{i}") for i in range(2)]
    instant = datetime.now(UTC)
    router.state.service.now = lambda: instant  # both in one rate window
    batch = [ok, refused, *limited]
    await produce(kafka_bootstrap, topics["requests"], [raw_record(e) for e in batch])
    replies = await consume(kafka_bootstrap, topics["replies"], count=4, timeout_s=30)
    by_request = {json.loads(r.value)["request_id"]: json.loads(r.value) for r in replies}
    answer = by_request[ok.id]
    assert answer["outcome"] == "ok"
    # The primary's injected first failure is transient: retried inside the router, so
    # the answer still comes from the primary and no error reached the runtime.
    assert answer["model"] == "local-primary"
    assert answer["content"]
    assert float(answer["cost_usd"]) > 0
    refusal = by_request[refused.id]
    assert refusal["outcome"] == "budget_exceeded"
    assert refusal["error"]["code"] == "budget.exceeded"
    assert refusal["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}
    # One request per minute: one of the two answered, the other refused as retryable.
    outcomes = {by_request[e.id]["outcome"]: by_request[e.id] for e in limited}
    assert sorted(outcomes) == ["ok", "rate_limited"]
    assert outcomes["rate_limited"]["error"]["code"] == "model.rate_limited"
    assert outcomes["rate_limited"]["error"]["retryable"] is True


async def test_invalid_request_is_dead_lettered_with_a_failed_reply(
    router, kafka_bootstrap, topics
):
    good = request("rich", unique("run"))
    key, _, headers = raw_record(good)
    await produce(kafka_bootstrap, topics["requests"], [(key, b'{"alias": "fast"}', headers)])
    letters = await consume(kafka_bootstrap, topics["dlq"], count=1, timeout_s=30)
    cause = headers_to_dict(letters[0].headers)
    assert cause["dlq.error.class"].endswith("ContractViolationError")
    replies = await consume(kafka_bootstrap, topics["replies"], count=1, timeout_s=30)
    reply_headers = headers_to_dict(replies[0].headers)
    assert reply_headers["ce_type"] == "agentbus.request.failed.v1"
    assert json.loads(replies[0].value)["request_id"] == good.id
