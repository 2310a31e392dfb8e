"""The planner process SIGKILLed mid-load finishes every run once; two replicas share runs."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import httpx
import pytest

from agentbus.testing import eventually, unique
from contracts.events.task import TaskCompleted

from .processes import PlannerProcess
from .responders import tool_reply

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FIVE_STEPS = """
name: five-steps
version: 1.0.0
output:
  total: steps.total.output
steps:
  - {id: fetch, type: tool, tool: fetch, inputs: {n: input.n}}
  - {id: left, type: tool, tool: double, depends_on: [fetch], inputs: {n: steps.fetch.output}}
  - {id: right, type: tool, tool: triple, depends_on: [fetch], inputs: {n: steps.fetch.output}}
  - id: total
    type: tool
    tool: add
    depends_on: [left, right]
    inputs: {a: steps.left.output, b: steps.right.output}
  - {id: record, type: tool, tool: record, depends_on: [total], inputs: {n: steps.total.output}}
"""
RUNS = 40


async def slow_tools(envelope):
    await asyncio.sleep(0.05)  # keeps runs in flight while the planner is killed
    args, tool = envelope.data.arguments, envelope.data.tool
    value = {
        "fetch": lambda: args["n"],
        "double": lambda: 2 * args["n"],
        "triple": lambda: 3 * args["n"],
        "add": lambda: args["a"] + args["b"],
        "record": lambda: True,
    }[tool]()
    return tool_reply(envelope, value)


async def publish(url: str, source: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        alice, bob = {"X-API-Key": "k-alice"}, {"X-API-Key": "k-bob"}
        created = await client.post("/v1/definitions", json={"source": source}, headers=alice)
        assert created.status_code == 201, created.text
        for key, action in ((alice, "submit"), (bob, "approve"), (bob, "publish")):
            response = await client.post(f"/v1/definitions/five-steps/1.0.0/{action}", headers=key)
            assert response.status_code == 200, response.text


def check_once(env, responder, tasks: list[str]) -> None:
    completions = defaultdict(set)
    for envelope in env.events("tasks.completed"):
        completions[envelope.data.task_id].add(envelope.id)
    assert {t: len(completions[t]) for t in tasks} == dict.fromkeys(tasks, 1)
    assert not env.events("tasks.failed")
    outcomes = env.outcomes()
    for n, task in enumerate(tasks):
        assert isinstance(outcomes[task], TaskCompleted)
        assert outcomes[task].output == {"total": 5 * n}
    # Every step of every run was commanded once: one request id per (run, step).
    per_step = Counter((e.data.step.run_id, e.data.step.step_id) for e in responder.requests)
    assert len(per_step) == 5 * len(tasks)
    assert set(per_step.values()) == {1}
    assert responder.duplicates == {}


async def test_sigkill_mid_load_finishes_every_run_once(make_env, tmp_path):
    env = await make_env("unused", serve=False, key="crash")
    database_url = f"sqlite:///{tmp_path / 'planner.db'}"
    first = PlannerProcess(env, database_url, tmp_path / "planner.log")
    await first.start()
    try:
        responder = await env.respond("tool.requests", slow_tools)
        await publish(first.url, FIVE_STEPS)
        tasks = [
            await env.submit("five-steps", {"n": n}, task_id=unique(f"c{n}")) for n in range(RUNS)
        ]

        async def some_done() -> bool:
            return len(env.outcomes()) >= RUNS // 4

        await eventually(some_done, what="a quarter of the runs")
        first.kill()
        await first.stop()
        assert len(env.outcomes()) < RUNS, "every run finished before the kill"
        second = PlannerProcess(env, database_url, tmp_path / "planner.log")
        await second.start()
        try:
            await env.wait_for_outcomes(tasks, timeout_s=90)
        finally:
            await second.stop()
    finally:
        await first.stop()
    check_once(env, responder, tasks)


async def test_two_replicas_share_runs_and_each_completes_once(make_env, tmp_path, postgres_url):
    env = await make_env("unused", serve=False, key="replicas")
    replicas = [PlannerProcess(env, postgres_url, tmp_path / f"replica-{i}.log") for i in (1, 2)]
    try:
        await asyncio.gather(*(r.start() for r in replicas))
        responder = await env.respond("tool.requests", slow_tools)
        await publish(replicas[0].url, FIVE_STEPS)
        tasks = [
            await env.submit("five-steps", {"n": n}, task_id=unique(f"r{n}")) for n in range(RUNS)
        ]
        await env.wait_for_outcomes(tasks, timeout_s=90)
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))
    check_once(env, responder, tasks)
