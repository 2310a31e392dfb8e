"""Ingress and versions: idempotent tasks, refusals, pinned versions, duplicates, cancel, DLQ."""

from __future__ import annotations

import asyncio

import pytest

from agentbus.testing import consume, eventually, produce, raw_record
from contracts.envelope import new_envelope
from contracts.events.task import TaskCancelRequested, TaskCompleted, TaskFailed
from contracts.types import Actor, ActorKind

from .responders import tool_reply

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def echo_v(version: str, name: str = "echo") -> str:
    return f"""
name: {name}
version: {version}
input_schema:
  type: object
  required: [text]
  properties: {{text: {{type: string}}}}
output:
  said: steps.say.output
steps:
  - id: say
    type: tool
    tool: echo
    inputs: {{text: input.text}}
"""


@pytest.fixture(scope="module")
def held() -> dict[str, asyncio.Event]:
    """Per-text gates: a tool call with that text waits until its gate is set."""
    return {}


async def _env(make_env, held):
    env = await make_env(key="tasks")
    if not env.responders:

        async def echo(envelope):
            text = envelope.data.arguments.get("text")
            if text in held:
                await held[text].wait()
            return tool_reply(envelope, f"{text}@{envelope.data.step.run_id[:4]}")

        await env.respond("tool.requests", echo)
    return env


async def test_the_same_task_twice_starts_one_run(make_env, held):
    env = await _env(make_env, held)
    await env.publish_definition(echo_v("1.0.0", "twice"))
    task = await env.submit("twice", {"text": "hi"}, task_id="task-twice")
    await env.submit("twice", {"text": "hi"}, task_id="task-twice")
    await env.wait_for_outcomes([task])
    async with env.client() as client:
        runs = (await client.get("/v1/runs", params={"workflow": "twice"})).json()
    assert len(runs) == 1
    responder = env.responders[0]
    assert [s for r, s in responder.order if r == runs[0]["run_id"]] == ["say"]
    completions = [e for e in env.events("tasks.completed") if e.data.task_id == task]
    assert len(completions) == 1
    # Two task ids with one idempotency key: one run too.
    keyed = await env.submit("twice", {"text": "k"}, task_id="k-1", idempotency_key="order-7")
    await env.wait_for_outcomes([keyed])
    await env.submit("twice", {"text": "k"}, task_id="k-2", idempotency_key="order-7")
    marker = await env.submit("twice", {"text": "after"}, task_id="k-3")
    await env.wait_for_outcomes([marker])
    async with env.client() as client:
        runs = (await client.get("/v1/runs", params={"workflow": "twice"})).json()
    assert sorted(r["task_id"] for r in runs) == ["k-1", "k-3", "task-twice"]


async def test_unknown_unpublished_and_invalid_input_end_as_task_failed(make_env, held):
    env = await _env(make_env, held)
    async with env.client("k-alice") as alice:
        created = await alice.post("/v1/definitions", json={"source": echo_v("1.0.0", "drafty")})
        assert created.status_code == 201
    await env.publish_definition(echo_v("1.0.0", "strict"))
    unknown = await env.submit("no-such-workflow", {"text": "x"})
    draft = await env.submit("drafty", {"text": "x"})
    wrong_version = await env.submit("strict", {"text": "x"}, version="9.9.9")
    bad_input = await env.submit("strict", {"text": 42})
    outcomes = await env.wait_for_outcomes([unknown, draft, wrong_version, bad_input])
    assert all(isinstance(o, TaskFailed) and o.run_id is None for o in outcomes.values())
    assert outcomes[unknown].error.code == "workflow.not_found"
    assert "no-such-workflow" in outcomes[unknown].error.message
    assert outcomes[draft].error.code == "workflow.not_published"
    assert outcomes[wrong_version].error.code == "workflow.not_found"
    assert outcomes[bad_input].error.code == "task.input_invalid"
    assert "at text: must be of type 'string'" in outcomes[bad_input].error.message
    assert "42" not in outcomes[bad_input].error.message  # the value may be personal data


async def test_a_run_keeps_its_pinned_version_after_a_newer_one_is_published(make_env, held):
    env = await _env(make_env, held)
    v1 = await env.publish_definition(echo_v("1.0.0", "pinned"))
    held["slow"] = asyncio.Event()
    first = await env.submit("pinned", {"text": "slow"})

    async def scheduled() -> bool:
        return any(
            e.data.step.step_id == "say"
            for e in env.responders[0].requests
            if e.data.arguments.get("text") == "slow"
        )

    await eventually(scheduled, what="the first run's step sent")
    v2 = await env.publish_definition(echo_v("1.1.0", "pinned").replace("echo", "echo2"))
    assert v2["content_hash"] != v1["content_hash"]
    second = await env.submit("pinned", {"text": "fast"})
    held["slow"].set()
    outcomes = await env.wait_for_outcomes([first, second])
    assert outcomes[first].workflow.version == "1.0.0"
    assert outcomes[first].workflow.content_hash == v1["content_hash"]
    assert outcomes[second].workflow.version == "1.1.0"


async def test_duplicate_and_late_replies_change_nothing(make_env, held):
    env = await _env(make_env, held)
    await env.publish_definition(echo_v("1.0.0", "dupes"))
    task = await env.submit("dupes", {"text": "once"})
    outcome = (await env.wait_for_outcomes([task]))[task]
    assert isinstance(outcome, TaskCompleted)
    request = next(e for e in env.responders[0].requests if e.runid == outcome.run_id)
    # The same reply again (same event id: the inbox skips it) and a late one (new id).
    same = new_envelope(
        tool_reply(request, "forged"),
        source="tests",
        tenant_id="acme",
        run_id=outcome.run_id,
        event_id="late-reply-1",
    )
    late = same.model_copy(update={"id": "late-reply-2"})
    async with env.client() as client:
        before = (await client.get(f"/v1/runs/{outcome.run_id}")).json()
    await produce(
        env.bootstrap,
        env.topic("tool.results"),
        [raw_record(same), raw_record(same), raw_record(late)],
    )
    planner = env.planners[0]

    async def handled() -> bool:
        async with planner.bus.uow("acme") as uow:
            return await uow.handled_among(
                planner.settings.bus.consumer_group, ["late-reply-1", "late-reply-2"]
            ) == {"late-reply-1", "late-reply-2"}

    async with env.client() as client:
        await eventually(handled, what="the planner handled both late replies")
        after = (await client.get(f"/v1/runs/{outcome.run_id}")).json()
    assert after == before
    assert after["output"] == {"said": f"once@{outcome.run_id[:4]}"}
    assert len([e for e in env.events("tasks.completed") if e.data.task_id == task]) == 1


async def test_cancel_by_event_and_by_api(make_env, held):
    env = await _env(make_env, held)
    await env.publish_definition(echo_v("1.0.0", "cancellable"))
    held["hold-a"], held["hold-b"] = asyncio.Event(), asyncio.Event()
    by_event = await env.submit("cancellable", {"text": "hold-a"})
    by_api = await env.submit("cancellable", {"text": "hold-b"})

    async def both_sent() -> bool:
        texts = {e.data.arguments.get("text") for e in env.responders[0].requests}
        return {"hold-a", "hold-b"} <= texts

    await eventually(both_sent, what="both steps sent")
    cancel = TaskCancelRequested(
        task_id=by_event,
        reason="customer withdrew",
        requested_by=Actor(kind=ActorKind.USER, id="ops"),
    )
    await produce(
        env.bootstrap,
        env.topic("tasks.submitted"),
        [raw_record(new_envelope(cancel, source="tests", tenant_id="acme"))],
    )
    async with env.client() as client:
        run_b = next(
            r
            for r in (await client.get("/v1/runs", params={"workflow": "cancellable"})).json()
            if r["task_id"] == by_api
        )["run_id"]
        response = await client.post(f"/v1/runs/{run_b}/cancel", json={"reason": "wrong input"})
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
    outcomes = await env.wait_for_outcomes([by_event, by_api])
    held["hold-a"].set()
    held["hold-b"].set()  # the late replies that follow change nothing
    assert outcomes[by_event].error.code == "run.cancelled"
    assert outcomes[by_event].error.message == "customer withdrew"
    assert outcomes[by_api].error.message == "wrong input"


async def test_an_unparseable_task_goes_to_the_dlq(make_env, held):
    env = await _env(make_env, held)
    headers = [
        ("ce_id", b"poison-1"),
        ("ce_source", b"tests"),
        ("ce_specversion", b"1.0"),
        ("ce_type", b"agentbus.task.submitted.v1"),
        ("ce_tenantid", b"acme"),
    ]
    await produce(env.bootstrap, env.topic("tasks.submitted"), [(b"poison", b"{not json", headers)])
    [dead] = await consume(env.bootstrap, env.topic("tasks.submitted.dlq"), count=1)
    assert dead.value == b"{not json"
    causes = {k: v.decode() for k, v in dead.headers}
    assert any("not JSON" in v for v in causes.values())
    # The planner keeps running: a later task still completes.
    await env.publish_definition(echo_v("1.0.0", "after-poison"))
    task = await env.submit("after-poison", {"text": "after-poison"})
    assert isinstance((await env.wait_for_outcomes([task]))[task], TaskCompleted)
