"""HTTP: authentication, tenant scoping, review rules, precise validation errors, drafting."""

from __future__ import annotations

import json

import pytest

from agentbus.testing import eventually
from contracts.events.task import TaskFailed

from .responders import model_reply

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

GOOD = """
name: ticket-{n}
version: {v}
steps:
  - id: summarise
    type: llm
    prompt: "Summarise {{{{ t }}}}"
    inputs: {{t: input.text}}
"""


async def test_requests_without_a_valid_key_get_401_json(make_env):
    env = await make_env(key="api")
    async with env.client("wrong-key") as client:
        bad = await client.get("/v1/runs")
    async with env.client("") as client:
        missing = await client.get("/v1/runs", headers={"X-API-Key": ""})
    assert bad.status_code == 401
    assert bad.json()["code"] == "auth.invalid"
    assert missing.status_code == 401
    async with env.client() as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert "/v1/runs/{run_id}" in (await client.get("/openapi.json")).json()["paths"]


async def test_another_tenants_run_and_definition_are_404(make_env):
    env = await make_env(key="api")
    await env.publish_definition(GOOD.format(n="scoped", v="1.0.0"))
    task = await env.submit("ticket-scoped", {"text": "x"})

    async def run_listed() -> bool:
        async with env.client() as client:
            return bool((await client.get("/v1/runs", params={"workflow": "ticket-scoped"})).json())

    await eventually(run_listed, what="the run")
    async with env.client() as alice, env.client("k-mallory") as mallory:
        run_id = (await alice.get("/v1/runs", params={"workflow": "ticket-scoped"})).json()[0][
            "run_id"
        ]
        assert (await alice.get(f"/v1/runs/{run_id}")).status_code == 200
        theirs = await mallory.get(f"/v1/runs/{run_id}")
        assert theirs.status_code == 404
        assert theirs.json() == {"code": "not_found", "message": f"run {run_id!r} not found"}
        assert (await mallory.post(f"/v1/runs/{run_id}/cancel", json={})).status_code == 404
        assert (await mallory.get("/v1/definitions/ticket-scoped/1.0.0")).status_code == 404
        assert (await mallory.get("/v1/runs")).json() == []
    assert task


async def test_the_author_cannot_approve_their_own_definition(make_env):
    env = await make_env(key="api")
    async with env.client("k-bob") as bob, env.client("k-carol") as carol:
        created = await bob.post(
            "/v1/definitions", json={"source": GOOD.format(n="own", v="1.0.0")}
        )
        assert created.status_code == 201
        assert (await bob.post("/v1/definitions/ticket-own/1.0.0/submit")).status_code == 200
        own = await bob.post("/v1/definitions/ticket-own/1.0.0/approve")
        assert own.status_code == 403
        assert own.json()["code"] == "workflow.self_review"
        early = await carol.post("/v1/definitions/ticket-own/1.0.0/publish")
        assert early.status_code == 409
        assert early.json()["code"] == "workflow.invalid_transition"
        assert (await carol.post("/v1/definitions/ticket-own/1.0.0/approve")).status_code == 200
        published = await carol.post("/v1/definitions/ticket-own/1.0.0/publish")
        assert published.json()["status"] == "published"
        assert published.json()["reviewer"] == "carol"
    async with env.client("k-alice") as alice:
        denied = await alice.post("/v1/definitions/ticket-own/1.0.0/deprecate")
        assert denied.status_code == 403  # alice lacks the reviewer role
    kinds = [e.type for e in env.events("workflows.events") if e.data.name == "ticket-own"]
    assert kinds == [
        "agentbus.workflow.drafted.v1",
        "agentbus.workflow.submitted.v1",
        "agentbus.workflow.approved.v1",
        "agentbus.workflow.published.v1",
    ]
    audits = [
        (e.data.action, e.data.outcome.value)
        for e in env.events("audit.log")
        if e.data.resource_id == "ticket-own@1.0.0"
    ]
    assert ("workflow.approve", "denied") in audits
    assert ("workflow.publish", "succeeded") in audits


async def test_invalid_yaml_and_definitions_give_step_and_field(make_env):
    env = await make_env(key="api")
    broken_yaml = "name: x\nversion: 1.0.0\nsteps:\n  - id: a\n   type: llm\n"
    invalid = """
name: invalid
version: 1.0.0
steps:
  - id: fetch
    type: tool
    tool: t
    depends_on: [ghost]
  - id: write
    type: llm
    prompt: "{{ missing }}"
    retry: {max_attempts: many}
"""
    cyclic = """
name: cyclic
version: 1.0.0
steps:
  - {id: a, type: tool, tool: t, depends_on: [b]}
  - {id: b, type: tool, tool: t, depends_on: [a], inputs: {x: steps.zzz.output}}
"""
    async with env.client() as client:
        y = await client.post("/v1/definitions", json={"source": broken_yaml})
        d = await client.post("/v1/definitions", json={"source": invalid})
        c = await client.post("/v1/definitions", json={"source": cyclic})
        empty = await client.post("/v1/definitions", json={})
    assert y.status_code == 422
    assert y.json()["code"] == "workflow.invalid"
    assert "invalid YAML at line 5" in y.json()["message"]
    assert d.status_code == 422
    assert {
        "step": "write",
        "field": "retry.max_attempts",
        "message": "Input should be a valid integer, unable to parse string as an integer",
    } in d.json()["details"]
    c_issues = c.json()["details"]
    assert any(
        i["step"] in ("a", "b") and i["field"] == "depends_on" and "cycle" in i["message"]
        for i in c_issues
    )
    assert empty.status_code == 422
    assert empty.json()["code"] == "request.invalid"
    semantic = """
name: semantic
version: 1.0.0
steps:
  - {id: fetch, type: tool, tool: t, depends_on: [ghost]}
  - id: write
    type: llm
    prompt: "{{ missing }}"
    inputs: {x: steps.fetch.output}
"""
    async with env.client() as client:
        s = await client.post("/v1/definitions", json={"source": semantic})
    issues = {(i["step"], i["field"]) for i in s.json()["details"]}
    assert ("fetch", "depends_on") in issues  # unknown step ghost
    assert ("write", "prompt") in issues  # placeholder not an input
    assert ("write", "inputs.x") in issues  # reads a step it does not depend on


async def test_diff_of_two_versions(make_env):
    env = await make_env(key="api")
    async with env.client() as client:
        for v in ("1.0.0", "1.1.0"):
            source = GOOD.format(n="diffed", v=v)
            if v == "1.1.0":
                source = source.replace("Summarise", "Condense")
            assert (
                await client.post("/v1/definitions", json={"source": source})
            ).status_code == 201
        text = (
            await client.get(
                "/v1/definitions/ticket-diffed/diff", params={"from": "1.0.0", "to": "1.1.0"}
            )
        ).text
    removed = [line for line in text.splitlines() if line.startswith("-") and "prompt" in line]
    added = [line for line in text.splitlines() if line.startswith("+") and "prompt" in line]
    assert len(removed) == len(added) == 1
    assert "Summarise {{ t }}" in removed[0]
    assert "Condense {{ t }}" in added[0]


async def test_a_drafted_workflow_is_stored_as_draft_and_does_not_run(make_env):
    env = await make_env(key="api")
    answers = [
        {"steps": [{"id": "Bad Id", "type": "llm"}]},  # invalid: the planner asks for a repair
        {
            "description": "triage",
            "steps": [
                {
                    "id": "classify",
                    "type": "llm",
                    "prompt": "Classify {{ t }}",
                    "inputs": {"t": "input.ticket"},
                }
            ],
        },
    ]
    seen: list[list[str]] = []

    def drafter(envelope):
        if not envelope.data.step.run_id.startswith("draft-"):
            return None  # another test's model step
        seen.append([m.content for m in envelope.data.messages])
        return model_reply(envelope, json.dumps(answers[len(seen) - 1]))

    await env.respond("model.requests", drafter)
    async with env.client() as client:
        job = (
            await client.post(
                "/v1/drafts",
                json={
                    "goal": "Classify support tickets by urgency",
                    "name": "drafted",
                    "version": "0.1.0",
                },
            )
        ).json()

        async def drafted() -> bool:
            return (await client.get(f"/v1/drafts/{job['job_id']}")).json()["status"] == "drafted"

        await eventually(drafted, what="the draft stored")
        view = (await client.get("/v1/definitions/drafted/0.1.0")).json()
    assert view["status"] == "draft"
    assert view["origin"] == "generated"
    assert len(seen) == 2
    assert "step 'Bad Id'" in seen[1][-1]  # the validation errors were fed back
    task = await env.submit("drafted", {"ticket": "help"})
    outcome = (await env.wait_for_outcomes([task]))[task]
    assert isinstance(outcome, TaskFailed)
    assert outcome.error.code == "workflow.not_published"


async def test_tasks_over_http_are_checked_then_queued(make_env):
    env = await make_env(key="api")
    await env.publish_definition(
        GOOD.format(n="http", v="1.0.0").replace(
            "steps:", "input_schema: {type: object, required: [text]}\nsteps:"
        )
    )
    async with env.client() as client:
        accepted = await client.post(
            "/v1/tasks",
            json={"task_id": "http-1", "workflow": "ticket-http", "input": {"text": "x"}},
        )
        unknown = await client.post("/v1/tasks", json={"task_id": "http-2", "workflow": "nope"})
        invalid = await client.post(
            "/v1/tasks", json={"task_id": "http-3", "workflow": "ticket-http", "input": {}}
        )
        malformed = await client.post("/v1/tasks", json={"task_id": "has space", "workflow": 3})
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]

        async def started() -> bool:
            return (await client.get(f"/v1/runs/{run_id}")).status_code == 200

        await eventually(started, what="the run of the HTTP task")
        view = (await client.get(f"/v1/runs/{run_id}")).json()
    assert view["task_id"] == "http-1"
    assert view["workflow"]["version"] == "1.0.0"
    assert (unknown.status_code, unknown.json()["code"]) == (404, "workflow.not_found")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "task.input_invalid")
    assert (malformed.status_code, malformed.json()["code"]) == (422, "request.invalid")
