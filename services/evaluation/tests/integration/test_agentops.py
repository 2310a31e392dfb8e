"""AgentOps on the real broker: production figures leave evaluation runs out, an alert rule
fires once until it recovers (a real webhook receiver gets both, signed), feedback counts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from evaluation.settings import AlertRule, WebhookTarget
from evaluation.webhooks import SIGNATURE_HEADER, verify
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentbus.http.testing import serving
from agentbus.testing import eventually, unique
from contracts.events.evaluation import AlertRaised, AlertResolved
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, ActorKind

from .harness import (
    TENANT,
    FakePlanner,
    client,
    fake_planner,
    jsonl,
    make_settings,
    make_topics,
    read_events,
    running,
)

pytestmark = pytest.mark.integration
SECRET = "whsec-test-0123456789"


@dataclass
class Receiver:
    url: str = ""
    received: list[tuple[bytes, str]] = field(default_factory=list)


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def hook(request: Request) -> JSONResponse:
        receiver.received.append((await request.body(), request.headers[SIGNATURE_HEADER]))
        return JSONResponse({"ok": True})

    async with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        receiver.url = f"{url}/hook"
        yield receiver


def answer(task: TaskSubmitted) -> dict[str, Any] | str:
    return "boom" if task.input.get("fail") else {"decision": "refund"}


async def production(planner: FakePlanner, *, fail: bool, count: int) -> None:
    for _ in range(count):
        task = TaskSubmitted(
            task_id=unique("prod"),
            workflow="refunds",
            workflow_version="1.0.0",
            input={"fail": fail},
            requested_by=Actor(kind=ActorKind.SYSTEM, id="shop"),
        )
        await planner.finish(TENANT, task)


async def test_figures_alerts_webhooks_and_feedback(kafka_bootstrap: str, sqlite_url: str) -> None:
    prefix = unique("ops") + "."
    await make_topics(kafka_bootstrap, prefix)
    rule = AlertRule(
        name="refund-errors",
        tenant=TENANT,
        workflow="refunds",
        version="1.0.0",
        metric="error_rate",
        threshold=0.3,
        window_s=600,
        min_runs=4,
    )
    async with webhook_receiver() as receiver:
        settings = make_settings(
            kafka_bootstrap,
            sqlite_url,
            prefix,
            alerts=[rule],
            webhooks={TENANT: WebhookTarget(url=receiver.url, secret=SecretStr(SECRET))},
        )
        async with (
            running(settings) as (_service, url),
            fake_planner(kafka_bootstrap, prefix, answer) as planner,
            client(url) as api,
        ):

            async def figures(runs: int) -> dict[str, Any]:
                seen: dict[str, Any] = {}

                async def counted() -> bool:
                    nonlocal seen
                    params = {"workflow": "refunds", "version": "1.0.0"}
                    seen = (await api.get("/v1/agentops", params=params)).json()
                    return bool(seen["runs"] == runs)

                await eventually(counted, timeout_s=20, what=f"{runs} production runs counted")
                return seen

            await production(planner, fail=False, count=4)
            await figures(4)

            # An evaluation whose four runs all fail: not production, so no alert, no figures.
            cases = jsonl(
                *({"id": f"c{i}", "input": {"fail": True}, "expected": {}} for i in range(4))
            )
            body = {"workflow": "refunds", "name": "core", "cases_jsonl": cases}
            assert (await api.post("/v1/datasets", json=body)).status_code == 201
            started = await api.post(
                "/v1/evaluations", json={"workflow": "refunds", "version": "1.0.0"}
            )
            evaluation_id = started.json()["evaluation_id"]

            async def evaluated() -> bool:
                view = (await api.get(f"/v1/evaluations/{evaluation_id}")).json()
                return bool(view["status"] == "completed")

            await eventually(evaluated, timeout_s=20, what="evaluation completed")
            quiet = await figures(4)
            assert quiet["failed"] == 0
            assert quiet["eval_pass_rate"] == 0.0

            await production(planner, fail=True, count=3)
            raised = await figures(7)
            assert raised["failed"] == 3
            await eventually(lambda: _count(receiver, 1), timeout_s=20, what="alert webhook")
            await production(planner, fail=True, count=2)
            await figures(9)
            await production(planner, fail=False, count=10)
            final = await figures(19)
            await eventually(lambda: _count(receiver, 2), timeout_s=20, what="resolve webhook")

            async def spent() -> bool:
                # Usage arrives on its own topic: the last runs' may trail their ends.
                nonlocal final
                params = {"workflow": "refunds", "version": "1.0.0"}
                final = (await api.get("/v1/agentops", params=params)).json()
                return bool(final["tokens_per_run"] == 50)

            await eventually(spent, timeout_s=20, what="every run's usage counted")

            assert final["success_rate"] == pytest.approx(14 / 19)
            assert final["latency_p95_ms"] == 120
            assert final["tokens_per_run"] == 50
            assert final["cost_per_run_usd"] == "0.000400"

            rows = await _production_run_ids(kafka_bootstrap, prefix)
            good, bad = rows[0], rows[1]
            ok = await api.post(f"/v1/runs/{good}/feedback", json={"outcome": "correct"})
            assert ok.status_code == 200, ok.text
            await api.post(f"/v1/runs/{bad}/feedback", json={"outcome": "incorrect"})
            missing = await api.post("/v1/runs/nope/feedback", json={"outcome": "correct"})
            assert missing.status_code == 404
            wrong = await api.post(f"/v1/runs/{good}/feedback", json={"outcome": "maybe"})
            assert wrong.status_code == 422
            assert wrong.json()["code"] == "request.invalid"
            async with client(url, "k-eve") as eve:
                other = await eve.post(f"/v1/runs/{good}/feedback", json={"outcome": "incorrect"})
                assert other.status_code == 404
            judged = (await api.get("/v1/agentops", params={"workflow": "refunds"})).json()
            assert judged["feedback_correct"] == 1
            assert judged["feedback_incorrect"] == 1
            assert judged["accuracy"] == 0.5

    alerts = [
        e.data
        for e in await read_events(kafka_bootstrap, f"{prefix}evaluations.events")
        if isinstance(e.data, AlertRaised | AlertResolved)
    ]
    assert [type(a).__name__ for a in alerts] == ["AlertRaised", "AlertResolved"]
    assert alerts[0].value > 0.3  # fired as the error rate crossed 0.3 (2/6 or 3/7)
    assert alerts[1].value <= 0.3  # resolved once back under it
    kinds = []
    for payload, signature in receiver.received:
        assert verify(SECRET, payload, signature)
        assert not verify("wrong-secret", payload, signature)
        kinds.append(json.loads(payload)["type"])
    assert kinds == ["agentbus.alert.raised.v1", "agentbus.alert.resolved.v1"]


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) == n


async def _production_run_ids(bootstrap: str, prefix: str) -> list[str]:
    events = await read_events(bootstrap, f"{prefix}runs.events")
    return sorted(
        {e.data.run_id for e in events if e.data.task_id.startswith("prod")},
    )
