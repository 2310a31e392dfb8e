"""An evaluation run's approval step: decided by the case's fixture, never asked of a human."""

from __future__ import annotations

import json

import pytest

from contracts.events.evaluation import ApprovalFixture, EvaluationMarker
from contracts.events.task import TaskCompleted, TaskFailed

from .conftest import WORKFLOWS
from .responders import allow, approve, model_reply, tool_reply

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def tools(envelope):
    req = envelope.data
    if req.tool == "orders.lookup":
        return tool_reply(envelope, {"amount": 250})  # above the limit: the approval path
    return tool_reply(envelope, {"done": req.tool})


def classify(envelope):
    return model_reply(envelope, json.dumps({"category": "late", "reason": "two weeks late"}))


async def test_an_evaluation_approval_answers_from_its_fixture_or_is_refused(make_env):
    # Its own planner: another module's responders on shared topics would answer its tools.
    env = await make_env(key="eval-approvals")
    source = (WORKFLOWS / "refund-triage.yaml").read_text()
    await env.publish_definition(source.replace("name: refund-triage", "name: eval-approvals"))
    await env.respond("tool.requests", tools)
    await env.respond("model.requests", classify)
    await env.respond("guardrail.requests", allow)
    approvals = await env.respond("approval.requests", approve)
    run_input = {"order_id": "o-big", "message": "late", "lines": []}

    def marker(case: str, **approvals: ApprovalFixture) -> EvaluationMarker:
        return EvaluationMarker(evaluation_id="ev-appr", case_id=case, approvals=approvals)

    approved = await env.submit(
        "eval-approvals",
        run_input,
        evaluation=marker("ok", approve=ApprovalFixture(outcome="approved", decided_by=["dana"])),
    )
    rejected = await env.submit(
        "eval-approvals",
        run_input,
        evaluation=marker("no", approve=ApprovalFixture(outcome="rejected", reason="too much")),
    )
    undeclared = await env.submit("eval-approvals", run_input, evaluation=marker("none"))
    production = await env.submit("eval-approvals", run_input)  # a real run asks a human
    outcomes = await env.wait_for_outcomes([approved, rejected, undeclared, production])

    done = outcomes[approved]
    assert isinstance(done, TaskCompleted), done
    assert done.output["decision"] == "then"
    assert isinstance(outcomes[rejected], TaskFailed), outcomes[rejected]
    assert outcomes[rejected].error.code == "approval.rejected"
    assert outcomes[rejected].error.message == "too much"
    refused = outcomes[undeclared]
    assert isinstance(refused, TaskFailed), refused
    assert refused.error.code == "approval.evaluation_refused"
    assert "'approve'" in refused.error.message
    assert "'none'" in refused.error.message
    assert refused.failed_step == "approve"
    assert isinstance(outcomes[production], TaskCompleted), outcomes[production]

    # No approval request exists for any evaluation run: only the production run asked.
    evaluation_runs = {outcomes[t].run_id for t in (approved, rejected, undeclared)}
    asked = {e.data.step.run_id for e in approvals.requests}
    assert outcomes[production].run_id in asked
    assert not asked & evaluation_runs
    # The approved step's output has the approval service's shape (the fixture's approver).
    async with env.client() as client:
        run = (await client.get(f"/v1/runs/{done.run_id}")).json()
    [step] = [s for s in run["steps"] if s["id"] == "approve"]
    assert step["output"]["outcome"] == "approved"
    assert step["output"]["decided_by"] == ["dana"]
    # Each fixture decision is audited, naming the evaluation.
    audits = [
        e.data
        for e in env.events("audit.log")
        if e.data.action == "approval.evaluation_fixture" and e.data.step.run_id in evaluation_runs
    ]
    assert sorted(a.outcome for a in audits) == [
        "failed",
        "succeeded",
        "succeeded",
    ]  # refused, approved, rejected
    assert {a.details["evaluation_id"] for a in audits} == {"ev-appr"}
    declared = sorted(str(a.details["declared_outcome"]) for a in audits)
    assert declared == ["None", "approved", "rejected"]
