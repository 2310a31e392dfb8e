"""The planner process SIGKILLed mid-load; two replicas restart, finish every run once."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import httpx
import pytest

from agentbus.testing import eventually, unique
from contracts.events.task import TaskCompleted

from .processes import PlannerProcess, group_client_ids
from .responders import tool_reply

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

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


async def test_sigkill_mid_load_then_two_replicas_finish_every_run_once(
    make_env, tmp_path, postgres_url
):
    """Kill -9 the only planner with runs in flight; two replicas restart and share the rest."""
    env = await make_env(key="crash", serve=False)
    first = PlannerProcess(env, postgres_url, tmp_path / "first.log")
    replicas = [
        PlannerProcess(env, postgres_url, tmp_path / f"replica-{i}.log", name=f"replica{i}")
        for i in (1, 2)
    ]
    await first.start()
    try:
        responder = await env.respond("tool.requests", slow_tools)
        await publish(first.url, FIVE_STEPS)
        tasks = []
        for n in range(RUNS):
            tasks.append(await env.submit("five-steps", {"n": n}, task_id=unique(f"c{n}")))
            # Spread over a second, so runs are still in flight when a quarter is done:
            # submitted at once, they all finish within the same few milliseconds.
            await asyncio.sleep(0.025)

        async def some_done() -> bool:
            return len(env.outcomes()) >= RUNS // 4

        await eventually(some_done, what="a quarter of the runs")
        first.kill()
        await first.stop()
        assert len(env.outcomes()) < RUNS, "every run finished before the kill"
        await asyncio.gather(*(r.start() for r in replicas))

        async def both_in_the_group() -> bool:
            ids = await group_client_ids(env.bootstrap, env.group)
            names = [f"{env.group}-{r.name}" for r in replicas]
            return all(any(i == n or i.startswith(f"{n}-") for i in ids) for n in names)

        await eventually(both_in_the_group, timeout_s=60, what="both replicas holding partitions")
        await env.wait_for_outcomes(tasks, timeout_s=120)
    finally:
        await asyncio.gather(first.stop(), *(r.stop() for r in replicas))
    check_once(env, responder, tasks)
