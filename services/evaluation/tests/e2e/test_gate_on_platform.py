"""The publish gate on the whole platform, every service a process on a private broker.

The demo workflow is evaluated through real runs (guardrail, model-router on its local
provider, tool-executor against the demo shop, planner): a buggy version fails its
thresholds and the planner refuses to publish it, naming the threshold and the measured
value; the fixed version passes and publishes. The refund is a write tool: evaluation runs
answer it from the dataset's fixture and the shop receives no refund. The rubric scorer goes
through the router and its cost is counted. Evaluation runs never reach production figures.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from agentbus.testing import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[4]
DATASETS = ROOT / "services/evaluation/datasets"
DEMO = ROOT / "demo/workflows/refund-triage-governed.yaml"
EVALUATION = Path(sys.executable).with_name("evaluation")
WORKFLOW = "refund-triage-governed"
JUDGES = {
    "judge-kind": '{"score": 0.9, "reason": "polite, names the refund"}',
    "judge-strict": '{"score": 0.2, "reason": "does not apologise"}',
}


def _harness() -> ModuleType:
    # The platform harness of tests/e2e (a module, not a package): loaded by path.
    path = ROOT / "tests/e2e/test_platform_harness.py"
    spec = importlib.util.spec_from_file_location("platform_harness", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["platform_harness"] = module
    spec.loader.exec_module(module)
    return module


harness = _harness()
# The audit service is not needed here: its records simply wait on audit.log.
harness.SERVICES = tuple(s for s in harness.SERVICES if s != "audit")


class EvaluationStack(harness.PlatformStack):  # type: ignore[name-defined,misc]
    """The platform plus the evaluation service, the planner's gate pointing at it."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.evaluation_port = free_port()
        self.gating = False

    def _write_config(self) -> None:
        super()._write_config()
        routing_file = self.home / "config" / "routing.yaml"
        routing = yaml.safe_load(routing_file.read_text())
        for alias, answer in JUDGES.items():
            routing["deployments"].append(
                {
                    "id": alias,
                    "provider": "local",
                    "model": alias,
                    "price": {"input_per_token": "0.000001", "output_per_token": "0.000002"},
                    "local": {"answer": answer},
                }
            )
            routing["aliases"][alias] = {"deployments": [alias]}
        routing_file.write_text(yaml.safe_dump(routing))
        keys_file = self.home / "api-keys.json"
        keys = json.loads(keys_file.read_text())
        for entry in keys:
            if entry["subject"] == "olivia":
                entry["roles"].append("admin")
        keys_file.write_text(json.dumps(keys))

    def service_env(self, name: str, index: int, port: int) -> dict[str, str]:
        env: dict[str, str] = super().service_env(name, index, port)
        if name == "planner":
            env["PLANNER_QUALITY_GATE__URL"] = f"http://127.0.0.1:{self.evaluation_port}"
            env["PLANNER_QUALITY_GATE__API_KEYS"] = json.dumps({"acme": self.keys["olivia"]})
        return env

    def publish_workflow(self) -> None:
        """The tests publish (through the gate) themselves."""

    def start(self) -> None:
        super().start()
        router = self.processes["model-router-0"].port
        env = self.service_env("evaluation", 0, self.evaluation_port)
        env["EVALUATION_JUDGE__URL"] = f"http://127.0.0.1:{router}"
        env["EVALUATION_JUDGE__API_KEYS"] = json.dumps({"acme": self.keys["olivia"]})
        planner = self.processes["planner-0"].port
        env["EVALUATION_RECORDED_RUNS__URL"] = f"http://127.0.0.1:{planner}"
        env["EVALUATION_RECORDED_RUNS__API_KEYS"] = json.dumps({"acme": self.keys["olivia"]})
        process = self._add("evaluation-0", [str(EVALUATION)], env, self.evaluation_port)
        process.start()
        harness.wait_until(process.ready, timeout_s=180, what="evaluation ready")

    def cli(self, *args: str, as_: str = "olivia") -> subprocess.CompletedProcess[str]:
        env = {
            "EVALUATION_URL": f"http://127.0.0.1:{self.evaluation_port}",
            "EVALUATION_API_KEY": self.keys[as_],
            "COLUMNS": "200",
            "PATH": "/usr/bin:/bin",
        }
        return subprocess.run(
            [str(EVALUATION), *args], env=env, capture_output=True, text=True, timeout=300
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvaluationStack]:
    platform = EvaluationStack(tmp_path_factory.mktemp("evaluation-stack"))
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()


def version_source(version: str, *, bug: bool) -> str:
    source = re.sub(r"(?m)^version: .*$", f"version: {version}", DEMO.read_text(), count=1)
    if bug:  # maps the order amount from a field the shop does not send
        source = source.replace(
            "amount: steps.fetch_order.output.body.amount\n",
            "amount: steps.fetch_order.output.body.total\n",
            1,
        )
    return source


def approved(stack: EvaluationStack, version: str, *, bug: bool) -> None:
    created = stack.call(
        "planner", "POST", "/v1/definitions", body={"source": version_source(version, bug=bug)}
    )
    assert created.status_code == 201, created.text
    for action, actor in (("submit", "olivia"), ("approve", "rita")):
        moved = stack.call(
            "planner", "POST", f"/v1/definitions/{WORKFLOW}/{version}/{action}", as_=actor
        )
        assert moved.status_code == 200, moved.text


def publish(stack: EvaluationStack, version: str) -> httpx.Response:
    response: httpx.Response = stack.call(
        "planner", "POST", f"/v1/definitions/{WORKFLOW}/{version}/publish", as_="rita"
    )
    return response


def latest_evaluation(stack: EvaluationStack, version: str) -> dict[str, Any]:
    listed = stack.call(
        "evaluation", "GET", "/v1/evaluations", params={"workflow": WORKFLOW, "version": version}
    ).json()
    view: dict[str, Any] = stack.call(
        "evaluation", "GET", f"/v1/evaluations/{listed[0]['evaluation_id']}"
    ).json()
    return view


def test_the_gate_refuses_a_failing_version_and_publishes_the_fixed_one(
    stack: EvaluationStack,
) -> None:
    added = stack.cli("datasets", "add", str(DATASETS / f"{WORKFLOW}.yaml"))
    assert added.returncode == 0, added.stdout + added.stderr
    assert "refund-triage-governed/core v1 (4 cases)" in added.stdout

    approved(stack, "1.0.0", bug=True)
    unevaluated = publish(stack, "1.0.0")
    assert unevaluated.status_code == 409, unevaluated.text
    assert unevaluated.json()["code"] == "workflow.quality_gate"
    assert (
        "no completed evaluation of refund-triage-governed@1.0.0" in unevaluated.json()["message"]
    )

    began = time.monotonic()
    failing = stack.cli("run", f"{WORKFLOW}@1.0.0")
    print(f"evaluation of 1.0.0 took {time.monotonic() - began:.1f}s\n{failing.stdout}")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "FAILED min_pass_rate: measured 0.00, limit 1.00" in failing.stdout
    assert "FAILED min_pass_rate_by_tag[pii]: measured 0.00, limit 1.00" in failing.stdout
    first = latest_evaluation(stack, "1.0.0")
    for case in first["cases"]:  # the runs' real model calls, metered by the router
        assert case["tokens"] > 0
        assert float(case["cost_usd"]) > 0
    refused = publish(stack, "1.0.0")
    assert refused.status_code == 409
    assert "min_pass_rate: measured 0.00, limit 1.00" in refused.json()["message"]

    approved(stack, "1.0.1", bug=False)
    began = time.monotonic()
    passing = stack.cli("run", f"{WORKFLOW}@1.0.1")
    print(f"evaluation of 1.0.1 took {time.monotonic() - began:.1f}s\n{passing.stdout}")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "PASSED every threshold" in passing.stdout
    published = publish(stack, "1.0.1")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"

    view = latest_evaluation(stack, "1.0.1")
    assert view["passed"] is True
    # What `compare` and `gate` take is printed whole: the id, the version's content hash.
    assert f"evaluation {view['evaluation_id']}" in passing.stdout
    assert view["content_hash"] in passing.stdout
    listed = stack.cli("list", f"{WORKFLOW}@1.0.1")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert view["evaluation_id"] in listed.stdout
    for case in view["cases"]:  # (same prompts as 1.0.0: the router answers from its cache)
        assert case["latency_ms"] > 0
    # The refund step answered from the fixture: the shop was never asked to refund.
    assert stack.refunds() == []
    # The case above the limit was approved by its declared outcome, not by a human: the
    # approval service never saw a request a refunds lead could act on.
    kettle = next(c for c in view["cases"] if c["case_id"] == "kettle-above-limit")
    assert kettle["status"] == "passed", kettle  # its checks include approved_by == ["dana"]
    pending = stack.call("approval", "GET", "/v1/approvals", as_="dana")
    assert pending.status_code == 200, pending.text
    assert pending.json() == []

    bad, good = latest_evaluation(stack, "1.0.0"), view
    compared = stack.cli("compare", good["evaluation_id"], bad["evaluation_id"])
    assert compared.returncode == 1  # regressions exist
    lines = [line for line in compared.stdout.splitlines() if "regression" in line]
    assert len(lines) >= 3, compared.stdout


def test_rubric_goes_through_the_router_and_its_cost_is_counted(stack: EvaluationStack) -> None:
    cases = [json.loads(line) for line in (DATASETS / f"{WORKFLOW}.jsonl").read_text().splitlines()]
    rubric = [
        {**cases[0], "id": "kind", "checks": [_rubric("judge-kind")]},
        {**cases[1], "id": "strict", "checks": [_rubric("judge-strict")]},
    ]
    body = {
        "workflow": WORKFLOW,
        "name": "tone",
        "thresholds": {"min_pass_rate": 0.5},
        "cases_jsonl": "\n".join(json.dumps(c) for c in rubric),
    }
    assert stack.call("evaluation", "POST", "/v1/datasets", body=body).status_code == 201
    ran = stack.cli("run", f"{WORKFLOW}@1.0.1", "--dataset", "tone")
    print(ran.stdout)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    view = latest_evaluation(stack, "1.0.1")
    by_case = {c["case_id"]: c for c in view["cases"]}
    assert by_case["kind"]["status"] == "passed"
    assert by_case["kind"]["score"] == 0.9
    assert by_case["strict"]["status"] == "failed"
    assert "judged 0.20 < 0.7: does not apologise" in by_case["strict"]["checks"][0]["reason"]
    for case in by_case.values():
        assert float(case["judge_cost_usd"]) > 0  # priced by the router's table
    assert float(view["summary"]["judge_cost_usd"]) == pytest.approx(
        sum(float(c["judge_cost_usd"]) for c in by_case.values())
    )


def _rubric(model: str) -> dict[str, Any]:
    return {
        "type": "rubric",
        "field": "reply",
        "rubric": "Polite and names the refund.",
        "model": model,
    }


def test_evaluation_runs_never_reach_production_figures(stack: EvaluationStack) -> None:
    params = {"workflow": WORKFLOW, "version": "1.0.1"}
    before = stack.call("evaluation", "GET", "/v1/agentops", params=params).json()
    assert before["runs"] == 0  # only evaluation runs so far
    assert before["eval_pass_rate"] is not None

    run_id = stack.submit("prod-1", "A-1002", "The mug set arrived broken.")

    def counted() -> bool:
        seen = stack.call("evaluation", "GET", "/v1/agentops", params=params).json()
        return bool(seen["runs"] == 1 and seen["succeeded"] == 1)

    harness.wait_until(counted, timeout_s=120, what="the production run counted")
    assert len(stack.refunds()) == 1  # production refunds for real, once
    ok = stack.call(
        "evaluation", "POST", f"/v1/runs/{run_id}/feedback", body={"outcome": "correct"}
    )
    assert ok.status_code == 200, ok.text
    ops = stack.cli("ops", f"{WORKFLOW}@1.0.1")
    print(ops.stdout)
    assert ops.returncode == 0
    assert "accuracy" in ops.stdout


def test_shadow_evaluation_of_a_draft_on_recorded_production_runs(stack: EvaluationStack) -> None:
    run_id = stack.submit("prod-2", "B-0042", "Item damaged in transit.")
    harness.wait_until(
        lambda: (stack.run(run_id) or {}).get("status") == "completed",
        timeout_s=120,
        what="second production run",
    )
    refunds = len(stack.refunds())
    compare = ["--compare", "decision", "--compare", "amount", "--compare", "refund"]
    for version, bug in (("1.0.2", True), ("1.0.3", False)):
        created = stack.call(
            "planner", "POST", "/v1/definitions", body={"source": version_source(version, bug=bug)}
        )
        assert created.status_code == 201, created.text  # a draft: never submitted or approved
    missing = stack.cli("shadow", f"{WORKFLOW}@9.9.9", "--from", "1.0.1", *compare)
    assert missing.returncode != 0
    assert f"no {WORKFLOW}@9.9.9: create the draft first" in missing.stdout + missing.stderr
    buggy = stack.cli("shadow", f"{WORKFLOW}@1.0.2", "--from", "1.0.1", *compare)
    print(buggy.stdout)
    assert buggy.returncode == 0, buggy.stdout + buggy.stderr
    assert "0/2 cases agree" in buggy.stdout
    assert "PASSED" not in buggy.stdout, "a shadow evaluation has no thresholds to pass"
    view = latest_evaluation(stack, "1.0.2")
    assert view["dataset"]["name"] == "shadow-1.0.1"
    assert view["cases_total"] == 2  # the two production runs, not the evaluation runs
    for case in view["cases"]:
        assert case["status"] == "failed"
        reasons = [c["reason"] for c in case["checks"] if not c["passed"]]
        assert len(reasons) == 1, reasons
        assert reasons[0] in ("amount: got null, expected 38.5", "amount: got null, expected 62.0")
    fixed = stack.cli("shadow", f"{WORKFLOW}@1.0.3", "--from", "1.0.1", *compare)
    print(fixed.stdout)
    view = latest_evaluation(stack, "1.0.3")
    assert [c["status"] for c in view["cases"]] == ["passed", "passed"], fixed.stdout
    assert "2/2 cases agree" in fixed.stdout
    assert len(stack.refunds()) == refunds  # replays refunded nothing
    # Shadow datasets never gate: 1.0.3 has no evaluation on the curated dataset.
    definition = stack.call("planner", "GET", f"/v1/definitions/{WORKFLOW}/1.0.3").json()
    gate = stack.call(
        "evaluation",
        "GET",
        "/v1/gate",
        params={
            "workflow": WORKFLOW,
            "version": "1.0.3",
            "content_hash": definition["content_hash"],
        },
    ).json()
    assert gate["passed"] is False
    assert "on dataset core" in gate["reason"]
