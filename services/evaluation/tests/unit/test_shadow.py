"""Shadow datasets: recorded runs become cases, recorded tool outputs their fixtures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from evaluation.settings import RecordedRunsSettings
from evaluation.shadow import RecordedRuns, ShadowError, shadow_dataset
from pydantic import SecretStr

RUN = {
    "run_id": "9d1c2e3f-0000-4000-8000-000000000001",
    "task_id": "prod-1",
    "input": {"order_id": "A-1002", "message": "broken"},
    "output": {"decision": "else", "amount": 38.5},
    "steps": [
        {"id": "fetch_order", "output": {"status": 200, "body": {"amount": 38.5}}},
        {"id": "refund", "output": {"status": 200, "body": {"refund_id": "re_1"}}},
        {"id": "classify", "output": {"category": "damaged"}},
    ],
}
TOOLS = {"fetch_order": "orders.lookup", "refund": "payments.refund"}


def test_recorded_runs_become_cases_with_fixtures() -> None:
    dataset = shadow_dataset("refunds", "1.0.1", [RUN], TOOLS, ["decision", "amount"])
    assert dataset.name == "shadow-1.0.1"
    assert dataset.thresholds.min_pass_rate == 0.0
    (case,) = dataset.cases
    assert case.id == RUN["run_id"]
    assert case.input == RUN["input"]
    assert case.expected == RUN["output"]
    assert case.fixtures == {
        "orders.lookup": {"status": 200, "body": {"amount": 38.5}},
        "payments.refund": {"status": 200, "body": {"refund_id": "re_1"}},
    }
    assert [c.type for c in case.checks] == ["field", "field"]
    whole = shadow_dataset("refunds", "1.0.1", [RUN], TOOLS, []).cases[0]
    assert [c.type for c in whole.checks] == ["exact"]


def test_no_recorded_runs_is_an_error() -> None:
    with pytest.raises(ShadowError, match=r"no completed production runs of refunds@1\.0\.1"):
        shadow_dataset("refunds", "1.0.1", [], TOOLS, [])


async def test_recorded_runs_are_read_from_the_planner_leaving_evaluations_out() -> None:
    listing = [
        {"run_id": "r1", "task_id": "prod-1", "version": "1.0.1"},
        {"run_id": "r2", "task_id": "eval-x-c1", "version": "1.0.1"},
        {"run_id": "r3", "task_id": "prod-2", "version": "1.0.0"},
    ]

    def planner(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-API-Key"] == "pk"
        if request.url.path == "/v1/runs":
            assert request.url.params["status"] == "completed"
            return httpx.Response(200, json=listing)
        if request.url.path == "/v1/definitions/refunds/1.0.2":
            steps: list[dict[str, Any]] = [
                {"id": "refund", "type": "tool", "tool": "payments.refund"},
                {"id": "classify", "type": "llm"},
            ]
            return httpx.Response(200, json={"definition": {"steps": steps}})
        return httpx.Response(200, json={**RUN, "run_id": request.url.path.rsplit("/", 1)[-1]})

    settings = RecordedRunsSettings(url="http://planner", api_keys={"acme": SecretStr("pk")})
    recorded = RecordedRuns(settings, transport=httpx.MockTransport(planner))
    runs = await recorded.runs("acme", "refunds", "1.0.1", limit=10)
    assert [r["run_id"] for r in runs] == ["r1"]
    assert await recorded.tool_steps("acme", "refunds", "1.0.2") == {"refund": "payments.refund"}
    with pytest.raises(ShadowError, match="no planner URL or key"):
        await recorded.runs("globex", "refunds", "1.0.1", limit=10)
