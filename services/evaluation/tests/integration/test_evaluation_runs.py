"""Evaluations end to end on the real broker, on SQLite and PostgreSQL: cases run as
evaluation-marked tasks, results are rows and events, and the gate judges the exact hash."""

from __future__ import annotations

from typing import Any

import pytest

from agentbus.testing import eventually, unique
from contracts.events.evaluation import EvaluationCaseScored, EvaluationCompleted
from contracts.events.task import TaskSubmitted

from .harness import (
    TENANT,
    client,
    fake_planner,
    hash_of,
    jsonl,
    make_settings,
    make_topics,
    read_events,
    running,
)

pytestmark = pytest.mark.integration

CASES = jsonl(
    {
        "id": "small",
        "input": {"order": "A-1", "amount": 20},
        "checks": [{"type": "exact", "field": "decision", "expected": "refund"}],
        "tags": ["small"],
        "fixtures": {"payments.refund": {"status": 200, "body": {"refund": "fixture-1"}}},
    },
    {
        "id": "large",
        "input": {"order": "A-2", "amount": 500},
        "expected": {"decision": "approve"},
        "checks": [{"type": "field", "path": "decision"}],
        "tags": ["large"],
        "approvals": {"approve": {"outcome": "approved", "decided_by": ["dana"]}},
    },
    {
        "id": "late",
        "input": {"order": "A-3", "amount": 60, "message": "parcel is late"},
        "checks": [
            {"type": "regex", "field": "reason", "pattern": "(?i)late"},
            {"type": "numeric", "field": "amount", "expected": 60, "tolerance": 0.01},
        ],
        "tags": ["small"],
    },
    {
        "id": "broken",
        "input": {"order": "A-4", "amount": 10, "explode": True},
        "checks": [{"type": "contains", "field": "reason", "expected": "refund"}],
        "tags": ["small"],
    },
)
THRESHOLDS = {
    "min_pass_rate": 0.7,
    "min_pass_rate_by_tag": {"large": 1.0},
    "max_p95_latency_ms": 1000,
    "max_cost_per_run_usd": "0.001",
}


def answer(task: TaskSubmitted) -> dict[str, Any] | str:
    """1.0.0 refunds everything (a bug); 1.0.1 asks for approval above 100."""
    data = task.input
    if data.get("explode"):
        return "tool orders.lookup failed: 500"
    fixed = task.workflow_version == "1.0.1"
    decision = "approve" if fixed and data["amount"] > 100 else "refund"
    reason = f"refund for {data.get('message', 'damaged item')}"
    return {"decision": decision, "amount": data["amount"], "reason": reason}


async def evaluate(url: str, version: str) -> dict[str, Any]:
    async with client(url) as api:
        started = await api.post(
            "/v1/evaluations", json={"workflow": "refunds", "version": version}
        )
        assert started.status_code == 202, started.text
        evaluation_id = started.json()["evaluation_id"]
        assert started.json()["cases"] == 4
        view: dict[str, Any] = {}

        async def done() -> bool:
            nonlocal view
            response = await api.get(f"/v1/evaluations/{evaluation_id}")
            view = response.json()
            # Spend arrives on usage.records, read by another consumer: wait for it too.
            spent = all(c["tokens"] == 50 for c in view["cases"])
            return view["status"] == "completed" and spent

        await eventually(done, timeout_s=30, what=f"evaluation of {version} completed")
        return view


async def test_a_failing_version_is_refused_and_the_fixed_one_passes(
    kafka_bootstrap: str, database_url: str
) -> None:
    prefix = unique("ev") + "."
    await make_topics(kafka_bootstrap, prefix)
    settings = make_settings(kafka_bootstrap, database_url, prefix)
    async with (
        running(settings) as (_service, url),
        fake_planner(kafka_bootstrap, prefix, answer) as planner,
    ):
        async with client(url) as ann:
            bad = await ann.post(
                "/v1/datasets",
                json={"workflow": "refunds", "name": "core", "cases_jsonl": "{oops"},
            )
            assert bad.status_code == 422
            assert bad.json() == {"code": "dataset.invalid", "message": bad.json()["message"]}
            assert "line 1: not JSON" in bad.json()["message"]
            body = {
                "workflow": "refunds",
                "name": "core",
                "thresholds": THRESHOLDS,
                "cases_jsonl": CASES,
            }
            added = await ann.post("/v1/datasets", json=body)
            assert added.status_code == 201, added.text
            assert added.json()["version"] == 1
            again = await ann.post("/v1/datasets", json=body)
            assert again.json()["version"] == 1  # same content, same version
            assert again.json()["content_hash"] == added.json()["content_hash"]

        first = await evaluate(url, "1.0.0")
        by_case = {c["case_id"]: c for c in first["cases"]}
        assert {k: v["status"] for k, v in by_case.items()} == {
            "broken": "failed",
            "large": "failed",
            "late": "passed",
            "small": "passed",
        }
        assert "tool orders.lookup failed" in by_case["broken"]["error"]
        assert (
            by_case["large"]["checks"][0]["reason"] == 'decision: got "refund", expected "approve"'
        )
        assert by_case["small"]["latency_ms"] == 120
        assert by_case["small"]["tokens"] == 50
        assert by_case["small"]["cost_usd"] == "0.00040000"
        assert first["passed"] is False
        assert first["breaches"] == [
            "min_pass_rate: measured 0.50, limit 0.70",
            "min_pass_rate_by_tag[large]: measured 0.00, limit 1.00",
        ]
        assert first["summary"]["cost_per_run_usd"] == "0.000400"

        # Every case ran as an evaluation-marked task of this tenant, with its fixtures.
        submitted = {
            t.task_id: t for t in planner.seen if t.correlation_id == first["evaluation_id"]
        }
        assert len(submitted) == 4
        assert set(planner.tenants) == {TENANT}
        small = next(
            t for t in submitted.values() if t.evaluation and t.evaluation.case_id == "small"
        )
        assert small.evaluation is not None
        assert small.evaluation.fixtures == {
            "payments.refund": {"status": 200, "body": {"refund": "fixture-1"}}
        }
        assert all(t.workflow_version == "1.0.0" for t in submitted.values())
        # The large case's approval step is decided by its declared outcome, not a human.
        large = next(t for t in submitted.values() if t.evaluation.case_id == "large")
        assert large.evaluation.approvals["approve"].outcome == "approved"
        assert large.evaluation.approvals["approve"].decided_by == ["dana"]
        assert small.evaluation.approvals == {}

        gate_query = {
            "workflow": "refunds",
            "version": "1.0.0",
            "content_hash": hash_of("refunds@1.0.0"),
        }
        async with client(url) as ann:
            refused = (await ann.get("/v1/gate", params=gate_query)).json()
            assert refused["passed"] is False
            assert "min_pass_rate: measured 0.50, limit 0.70" in refused["reason"]
            other_hash = {**gate_query, "content_hash": hash_of("something else")}
            unknown = (await ann.get("/v1/gate", params=other_hash)).json()
            assert unknown["passed"] is False
            assert "no completed evaluation of refunds@1.0.0" in unknown["reason"]
            # A value that is no content hash is a bad request, not a "not passed".
            malformed = await ann.get("/v1/gate", params={**gate_query, "content_hash": "abc"})
            assert (malformed.status_code, malformed.json()["code"]) == (422, "request.invalid")

        second = await evaluate(url, "1.0.1")
        assert second["passed"] is True, second["breaches"]
        assert second["summary"]["pass_rate"] == 0.75
        async with client(url) as ann:
            fixed_query = {
                **gate_query,
                "version": "1.0.1",
                "content_hash": hash_of("refunds@1.0.1"),
            }
            passed = (await ann.get("/v1/gate", params=fixed_query)).json()
            assert passed["passed"] is True, passed
            assert passed["evaluations"][0]["evaluation_id"] == second["evaluation_id"]

            compared = (
                await ann.get(
                    "/v1/compare",
                    params={"a": second["evaluation_id"], "b": first["evaluation_id"]},
                )
            ).json()
            assert [(c["case_id"], c["change"]) for c in compared["cases"]] == [
                ("large", "regression"),
                ("broken", "same-fail"),
                ("late", "same-pass"),
                ("small", "same-pass"),
            ]

        # Another tenant sees none of it.
        async with client(url, "k-eve") as eve:
            hidden = await eve.get(f"/v1/evaluations/{first['evaluation_id']}")
            assert hidden.status_code == 404
            assert hidden.json()["code"] == "not_found"
            assert (await eve.get("/v1/gate", params=fixed_query)).json()["passed"] is False

    events = await read_events(kafka_bootstrap, f"{prefix}evaluations.events")
    scored = [e for e in events if isinstance(e.data, EvaluationCaseScored)]
    completed = [e for e in events if isinstance(e.data, EvaluationCompleted)]
    assert len(scored) == 8
    assert len({(e.data.evaluation_id, e.data.case_id) for e in scored}) == 8
    assert sorted((e.data.workflow.version, e.data.passed) for e in completed) == [
        ("1.0.0", False),
        ("1.0.1", True),
    ]
    assert {e.data.workflow.content_hash for e in completed} == {
        hash_of("refunds@1.0.0"),
        hash_of("refunds@1.0.1"),
    }


async def test_override_needs_an_administrator_and_is_audited(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    prefix = unique("ev") + "."
    await make_topics(kafka_bootstrap, prefix)
    settings = make_settings(kafka_bootstrap, sqlite_url, prefix)
    body = {
        "workflow": "refunds",
        "version": "2.0.0",
        "content_hash": hash_of("refunds@2.0.0"),
        "reason": "hotfix for incident 4711; evaluation dataset being rebuilt",
    }
    query = {k: body[k] for k in ("workflow", "version", "content_hash")}
    async with running(settings) as (_service, url):
        async with client(url, "k-ann") as ann:
            assert (await ann.get("/v1/gate", params=query)).json()["passed"] is False
            denied = await ann.post("/v1/gate/overrides", json=body)
            assert denied.status_code == 403
            assert denied.json()["code"] == "auth.forbidden"
        async with client(url, "k-root") as root:
            short = await root.post("/v1/gate/overrides", json={**body, "reason": ""})
            assert short.status_code == 422
            assert short.json()["code"] == "request.invalid"
            allowed = await root.post("/v1/gate/overrides", json=body)
            assert allowed.status_code == 201, allowed.text
            verdict = (await root.get("/v1/gate", params=query)).json()
            assert verdict["passed"] is True
            assert verdict["override"] == {"actor": "root", "reason": body["reason"]}
        async with client(url, "k-eve") as eve:  # an admin of another tenant: not overridden
            assert (await eve.get("/v1/gate", params=query)).json()["passed"] is False

        async def audited() -> bool:
            records = await read_events(kafka_bootstrap, f"{prefix}audit.log")
            return any(r.data.action == "evaluation.gate.override" for r in records)

        await eventually(audited, timeout_s=15, what="override audited")
    records = await read_events(kafka_bootstrap, f"{prefix}audit.log")
    override = next(r for r in records if r.data.action == "evaluation.gate.override")
    assert override.data.actor.id == "root"
    assert override.data.details["reason"] == body["reason"]
    assert override.tenantid == TENANT
