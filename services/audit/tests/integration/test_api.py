"""The HTTP API: tenant-scoped queries with a cursor, the run report as JSON and as a page."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit.app import create_app

from agentbus.http.testing import serving
from agentbus.testing import eventually, produce, raw_record
from contracts.audit import digest, record, service_actor
from contracts.envelope import Envelope
from contracts.events.audit import ApprovalUse, GuardrailUse, ModelUse, ToolUse
from contracts.types import Actor, StepRef, TokenUsage, WorkflowRef

from .harness import key_of, settings_for, stored

pytestmark = pytest.mark.integration

WORKFLOW = WorkflowRef(name="invoice-triage", version="3", content_hash="sha256:" + "ab" * 32)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def run_records(tenant: str, run_id: str) -> list[Envelope[Any]]:
    """A run's audit trail as the services emit it: planner, guardrail, model, tool, approval."""

    def step(step_id: str) -> StepRef:
        return StepRef(run_id=run_id, step_id=step_id)

    def make(source: str, action: str, kind: str, rid: str, **fields: Any) -> Envelope[Any]:
        return record(
            source=source,
            tenant_id=tenant,
            actor=service_actor(source),
            action=action,
            resource_type=kind,
            resource_id=rid,
            outcome=fields.pop("outcome", "succeeded"),
            run_id=run_id,
            traceparent=TRACE,
            workflow=WORKFLOW,
            **fields,
        )

    return [
        make("planner", "run.start", "run", run_id, on_behalf_of=Actor(kind="user", id="alice")),
        make(
            "guardrail",
            "guardrail.check",
            "step",
            "classify",
            step=step("classify"),
            guardrail=GuardrailUse(
                decision="mask",
                policy_name="default",
                policy_version="4",
                direction="input",
                findings=["pii.email"],
            ),
            prompt=digest("mail alice@example.com", masked="mail [EMAIL]"),
        ),
        make(
            "model-router",
            "model.call",
            "step",
            "classify",
            step=step("classify"),
            model=ModelUse(provider="local", model="echo-1", alias="default"),
            usage=TokenUsage(prompt_tokens=120, completion_tokens=30),
            cost_usd=Decimal("0.000150"),
            output=digest("utilities"),
        ),
        make(
            "tool-executor",
            "tool.invoke",
            "tool",
            "crm.lookup",
            step=step("lookup"),
            tool=ToolUse(name="crm.lookup", version="1.0.0"),
        ),
        make(
            "approval",
            "approval.decide",
            "approval",
            "apr-1",
            step=step("pay"),
            approval=ApprovalUse(
                outcome="approved", approval_id="apr-1", approvers=[Actor(kind="user", id="bob")]
            ),
        ),
        make("planner", "run.complete", "run", run_id),
    ]


async def publish(bootstrap: str, topic: str, envelopes: list[Envelope[Any]]) -> None:
    await produce(bootstrap, topic, [raw_record(e) for e in envelopes])


async def test_queries_are_tenant_scoped_paginated_and_authenticated(
    kafka_bootstrap: str, database_url: str, audit_topic
) -> None:
    topic = await audit_topic(3)
    acme = [e for i in range(4) for e in run_records("acme", f"run-acme-{i}")]
    globex = [e for i in range(3) for e in run_records("globex", f"run-globex-{i}")]
    await publish(kafka_bootstrap, topic, acme + globex)
    service = create_app(settings_for(database_url, kafka_bootstrap, topic))
    async with serving(service.http) as base, httpx.AsyncClient(base_url=base) as http:

        async def all_in() -> bool:
            return await stored(service) >= len(acme) + len(globex)

        await eventually(all_in, timeout_s=60, what="both tenants' records stored")

        def as_(who: str) -> dict[str, str]:
            return {"X-API-Key": key_of(who)}

        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            response = await http.get("/v1/audit", params=params, headers=as_("ann"))
            assert response.status_code == 200, response.text
            page = response.json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        mine = [i for i in seen if i["entry"]["data"]["action"] != "audit.read"]
        assert len(mine) == len(acme)
        assert {i["entry"]["tenant_id"] for i in seen} == {"acme"}
        assert [i["seq"] for i in seen] == sorted({i["seq"] for i in seen})
        assert {i["event_id"] for i in mine} == {e.id for e in acme}
        # Times say their zone, UTC (SQLite hands them back naive); the filters need one too.
        for item in seen:
            assert datetime.fromisoformat(item["occurred_at"]).utcoffset() == timedelta(0), item

        theirs = (await http.get("/v1/audit", params={"limit": 1000}, headers=as_("gil"))).json()
        assert {i["entry"]["tenant_id"] for i in theirs["items"]} == {"globex"}
        assert not {i["event_id"] for i in theirs["items"]} & {e.id for e in acme}

        by_run = await http.get("/v1/audit", params={"run_id": "run-globex-0"}, headers=as_("ann"))
        assert by_run.json()["items"] == []
        report = await http.get("/v1/audit/runs/run-globex-0/report", headers=as_("ann"))
        assert report.status_code == 404
        assert report.json()["code"] == "not_found"

        calls = await http.get(
            "/v1/audit", params={"action": "model.call", "run_id": "run-acme-1"}, headers=as_("ann")
        )
        assert [i["action"] for i in calls.json()["items"]] == ["model.call"]

        assert (await http.get("/v1/audit")).json()["code"] in {"auth.missing", "auth.invalid"}
        assert (await http.get("/v1/audit", headers=as_("bo"))).status_code == 403
        bad = await http.get("/v1/audit", params={"cursor": "!!"}, headers=as_("ann"))
        assert (bad.status_code, bad.json()["code"]) == (422, "request.invalid")
        naive = await http.get(
            "/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=as_("ann")
        )
        assert (naive.status_code, naive.json()["code"]) == (422, "request.invalid")
        huge = await http.get("/v1/audit", params={"limit": 10**6}, headers=as_("ann"))
        assert (huge.status_code, huge.json()["code"]) == (422, "request.invalid")
        verify = (await http.get("/v1/audit/verify", headers=as_("gil"))).json()
        assert verify["ok"] is True

        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.json()["checks"]) == (
            200,
            {"broker": "ok", "database": "ok"},
        )
        assert (
            "/v1/audit/runs/{run_id}/report.html"
            in (await http.get("/openapi.json")).json()["paths"]
        )

        async def reads_audited() -> bool:
            page = await http.get("/v1/audit", params={"action": "audit.read"}, headers=as_("ann"))
            actors = {i["entry"]["data"]["actor"]["id"] for i in page.json()["items"]}
            return actors == {"ann"}

        # Reading the trail is itself audited, in the reader's tenant only.
        await eventually(reads_audited, timeout_s=30, what="ann's reads in acme's trail")


async def test_the_run_report_shows_every_step_in_order_and_renders_in_chromium(
    kafka_bootstrap: str, sqlite_url: str, audit_topic, tmp_path: Path
) -> None:
    topic = await audit_topic(1)
    trail = run_records("acme", "run-report-1")
    await publish(kafka_bootstrap, topic, run_records("acme", "run-other") + trail)
    service = create_app(settings_for(sqlite_url, kafka_bootstrap, topic))
    headers = {"X-API-Key": key_of("ann")}
    async with serving(service.http) as base, httpx.AsyncClient(base_url=base) as http:

        async def all_in() -> bool:
            return await stored(service) >= 12

        await eventually(all_in, timeout_s=60, what="two runs stored")
        report = (await http.get("/v1/audit/runs/run-report-1/report", headers=headers)).json()
        page = await http.get("/v1/audit/runs/run-report-1/report.html", headers=headers)
    assert [item["event_id"] for item in report["timeline"]] == [e.id for e in trail]
    seqs = [item["seq"] for item in report["timeline"]]
    assert seqs == sorted(seqs)
    assert [s["step_id"] for s in report["steps"]] == ["(run)", "classify", "lookup", "pay"]
    classify = report["steps"][1]
    assert classify["models"][0]["model"] == "echo-1"
    assert classify["verdicts"][0]["policy_version"] == "4"
    assert report["steps"][2]["tools"][0]["version"] == "1.0.0"
    assert report["approvals"][0]["approval"]["approvers"] == [{"kind": "user", "id": "bob"}]
    assert report["totals"] == {
        "cost_usd": "0.000150",
        "prompt_tokens": 120,
        "completion_tokens": 30,
    }
    assert report["workflow"]["version"] == "3"
    assert "alice@example.com" not in page.text

    assert page.headers["content-type"].startswith("text/html")
    html = tmp_path / "report.html"
    html.write_text(page.text)
    assert "<script" not in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "install Debian's chromium: apt-get install -y chromium"
    png = tmp_path / "report.png"
    await asyncio.to_thread(
        subprocess.run,
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            "--window-size=1400,900",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
    print(f"report screenshot: {png}")
