"""A real workflow end to end: parallel branches, a condition, a map fan-out, DAG order."""

from __future__ import annotations

import json

import pytest

from contracts.events.evaluation import EvaluationMarker
from contracts.events.task import TaskCompleted

from .conftest import WORKFLOWS
from .responders import allow, approve, model_reply, tool_reply

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ORDERS = {"o-small": 40, "o-big": 250}


def tools(envelope):
    req = envelope.data
    if req.tool == "orders.lookup":
        return tool_reply(envelope, {"amount": ORDERS[req.arguments["order_id"]]})
    if req.tool == "inventory.check_return":
        return tool_reply(envelope, {"sku": req.arguments["sku"], "ok": True})
    if req.tool == "payments.refund":
        return tool_reply(envelope, {"refunded": req.arguments["amount"]})
    return tool_reply(envelope, {"sent": True})


def classify(envelope):
    return model_reply(envelope, json.dumps({"category": "damaged", "reason": "box crushed"}))


async def test_refund_triage_runs_in_dag_order_with_branch_and_map(make_env):
    env = await make_env(key="runs")
    tool = await env.respond("tool.requests", tools)
    model = await env.respond("model.requests", classify)
    guard = await env.respond("guardrail.requests", allow)
    approval = await env.respond("approval.requests", approve)
    await env.publish_definition((WORKFLOWS / "refund-triage.yaml").read_text())
    lines = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}, {"sku": "C", "qty": 1}]
    small = await env.submit(
        "refund-triage", {"order_id": "o-small", "message": "broken", "lines": lines}
    )
    big = await env.submit("refund-triage", {"order_id": "o-big", "message": "late", "lines": []})

    outcomes = await env.wait_for_outcomes([small, big])
    assert isinstance(outcomes[small], TaskCompleted), outcomes[small]
    assert outcomes[small].output == {
        "decision": "else",
        "refund": {"refunded": 40},
        "reason": "box crushed",
        "lines": [{"sku": s, "ok": True} for s in "ABC"],
    }
    assert isinstance(outcomes[big], TaskCompleted), outcomes[big]
    assert outcomes[big].output["decision"] == "then"
    assert outcomes[big].output["refund"] is None  # the untaken branch was skipped
    assert outcomes[big].output["lines"] == []

    small_run = outcomes[small].run_id
    acted = [
        step
        for responder in (guard, tool, model, approval)
        for run, step in responder.order
        if run == small_run
    ]
    assert sorted(acted) == sorted(
        [
            "screen",
            "fetch_order",
            "classify",
            "check_lines/0",
            "check_lines/1",
            "check_lines/2",
            "refund",
            "notify",
        ]
    )
    # Commands respect the DAG: check the order of step_scheduled events of the run.
    scheduled = [
        e.data.step.step_id
        for e in env.events("runs.events")
        if e.type == "agentbus.run.step_scheduled.v1" and e.runid == small_run
    ]
    position = {step: i for i, step in enumerate(scheduled)}
    assert position["screen"] < position["fetch_order"] < position["check_lines/0"]
    assert position["screen"] < position["classify"] < position["refund"]
    assert max(position[f"check_lines/{i}"] for i in range(3)) < position["refund"]
    assert position["refund"] < position["notify"]
    assert "approve" not in position
    assert "manual_refund" not in position
    assert [run for run, step in approval.order] == [outcomes[big].run_id]
    for responder in (guard, tool, model, approval):
        assert responder.duplicates == {}

    async with env.client() as client:
        view = (await client.get(f"/v1/runs/{small_run}")).json()
    assert view["status"] == "completed"
    assert view["workflow"]["name"] == "refund-triage"
    steps = {s["id"]: s for s in view["steps"]}
    assert steps["approve"]["status"] == "skipped"
    assert steps["refund"]["output"] == {"refunded": 40}
    assert steps["fetch_order"]["duration_ms"] is not None


CHILD = """
name: lookup-child
version: 2.0.0
output:
  amount: steps.fetch.output.amount
steps:
  - id: fetch
    type: tool
    tool: orders.lookup
    inputs: {order_id: input.order}
"""
PARENT = """
name: parent-flow
version: 1.0.0
output:
  child: steps.sub.output
steps:
  - id: sub
    type: workflow
    workflow: lookup-child
    inputs: {order: input.order_id}
"""


async def test_a_sub_workflow_step_runs_the_published_child(make_env):
    env = await make_env(key="runs")
    await env.publish_definition(CHILD)
    await env.publish_definition(PARENT)
    task = await env.submit("parent-flow", {"order_id": "o-big"})
    outcome = (await env.wait_for_outcomes([task]))[task]
    assert isinstance(outcome, TaskCompleted), outcome
    assert outcome.output == {"child": {"amount": 250}}
    async with env.client() as client:
        runs = (await client.get("/v1/runs", params={"workflow": "lookup-child"})).json()
    assert len(runs) == 1  # the child run, pinned to the child's version
    assert runs[0]["version"] == "2.0.0"


async def test_the_child_of_an_evaluation_run_is_an_evaluation_too(make_env):
    env = await make_env(key="runs")
    # Names of their own: the environment (and its definitions) is shared with other tests.
    await env.publish_definition(CHILD.replace("lookup-child", "eval-child"))
    await env.publish_definition(
        PARENT.replace("lookup-child", "eval-child").replace("parent-flow", "eval-parent")
    )
    tools = await env.respond("tool.requests", lambda e: tool_reply(e, {"amount": 250}))
    marker = EvaluationMarker(evaluation_id="ev-1", case_id="case-1")
    task = await env.submit("eval-parent", {"order_id": "o-big"}, evaluation=marker)
    outcome = (await env.wait_for_outcomes([task]))[task]
    assert isinstance(outcome, TaskCompleted), outcome
    async with env.client() as client:
        [child] = (await client.get("/v1/runs", params={"workflow": "eval-child"})).json()
    [request] = [e.data for e in tools.requests if e.data.step.run_id == child["run_id"]]
    assert request.evaluation == marker, "the child's write tools answer from fixtures"
