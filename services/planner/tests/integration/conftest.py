"""A planner on the real broker with its own prefixed topics, plus responders and a client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from planner.app import Planner, create_app
from planner.settings import PlannerSettings

from agentbus.bus import BusSettings, RetryPolicy
from agentbus.http import ApiKeyEntry, HttpSettings
from agentbus.http.testing import serving
from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from contracts.envelope import Envelope, new_envelope
from contracts.events.evaluation import EvaluationMarker
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, ActorKind

from .responders import Answer, Collector, Responder

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
CONSUMED = [
    "tasks.submitted",
    "guardrail.verdicts",
    "model.responses",
    "tool.results",
    "approval.decisions",
    "runs.timers",
]
PRODUCED = [
    "tasks.completed",
    "tasks.failed",
    "runs.events",
    "guardrail.requests",
    "model.requests",
    "tool.requests",
    "approval.requests",
    "audit.log",
    "workflows.events",
]
KEYS = {
    "k-alice": ("acme", "alice", []),
    "k-bob": ("acme", "bob", ["reviewer"]),
    "k-carol": ("acme", "carol", ["reviewer"]),
    "k-mallory": ("globex", "mallory", ["reviewer"]),
}
REPLY_OF = {
    "tool.requests": "tool.results",
    "model.requests": "model.responses",
    "guardrail.requests": "guardrail.verdicts",
    "approval.requests": "approval.decisions",
}


def planner_settings(bootstrap: str, prefix: str, database_url: str, group: str) -> PlannerSettings:
    """Fast relay and timers, test API keys, prefixed topics."""
    return PlannerSettings(
        bus=BusSettings(
            bootstrap_servers=bootstrap,
            client_id=group,
            consumer_group=group,
            database_url=database_url,
            retry=RetryPolicy(max_attempts=5, initial_backoff_s=0.05, max_backoff_s=0.5),
            outbox_relay_interval_s=0.2,
            outbox_relay_grace_s=0.5,
            commit_interval_s=0.2,
            timer_poll_interval_s=0.1,
        ),
        http=HttpSettings(
            api_keys=[
                ApiKeyEntry(key=key, tenant=tenant, subject=subject, roles=roles)
                for key, (tenant, subject, roles) in KEYS.items()
            ]
        ),
        topic_prefix=prefix,
    )


@dataclass
class Env:
    """One isolated planner deployment: topics, settings, running planner(s), an API client."""

    bootstrap: str
    prefix: str
    database_url: str
    group: str
    planners: list[Planner] = field(default_factory=list)
    responders: list[Responder] = field(default_factory=list)
    base_url: str = ""
    collector: Collector | None = None
    direct: list[Planner] = field(default_factory=list)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def settings(self) -> PlannerSettings:
        return planner_settings(self.bootstrap, self.prefix, self.database_url, self.group)

    def client(self, key: str = "k-alice") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers={"X-API-Key": key}, timeout=30)

    async def respond(self, request_topic: str, answer: Answer) -> Responder:
        responder = Responder(
            self.bootstrap, self.topic(request_topic), self.topic(REPLY_OF[request_topic]), answer
        )
        await responder.start()
        self.responders.append(responder)
        return responder

    async def publish_definition(self, source: str) -> dict[str, Any]:
        """Create, submit, approve (bob) and publish (carol) a definition; its view."""
        async with self.client("k-alice") as alice, self.client("k-bob") as bob:
            created = await alice.post("/v1/definitions", json={"source": source})
            assert created.status_code == 201, created.text
            name, version = created.json()["name"], created.json()["version"]
            for client, action in ((alice, "submit"), (bob, "approve"), (bob, "publish")):
                response = await client.post(f"/v1/definitions/{name}/{version}/{action}")
                assert response.status_code == 200, response.text
            return dict(response.json())

    async def submit(
        self,
        workflow: str,
        run_input: dict[str, Any],
        *,
        task_id: str | None = None,
        version: str | None = None,
        tenant: str = "acme",
        idempotency_key: str | None = None,
        evaluation: EvaluationMarker | None = None,
    ) -> str:
        """Publish a task.submitted record as any upstream client would; its task id."""
        task = TaskSubmitted(
            task_id=task_id or unique("task"),
            workflow=workflow,
            workflow_version=version,
            input=run_input,
            idempotency_key=idempotency_key,
            requested_by=Actor(kind=ActorKind.SYSTEM, id="crm"),
            evaluation=evaluation,
        )
        envelope = new_envelope(task, source="tests", tenant_id=tenant)
        await produce(self.bootstrap, self.topic("tasks.submitted"), [raw_record(envelope)])
        return task.task_id

    def outcomes(self) -> dict[str, Any]:
        """task id -> the TaskCompleted/TaskFailed data published for it (the last one)."""
        assert self.collector is not None
        found: dict[str, Any] = {}
        for name in ("tasks.completed", "tasks.failed"):
            for envelope in self.collector.of(self.topic(name)):
                found[envelope.data.task_id] = envelope.data
        return found

    def events(self, name: str) -> list[Envelope[Any]]:
        """Every envelope published so far on topic `name`."""
        assert self.collector is not None
        return self.collector.of(self.topic(name))

    async def wait_for_outcomes(self, task_ids: list[str], timeout_s: float = 60) -> dict[str, Any]:
        """Wait until every task has an outcome; task id -> outcome data."""

        async def all_done() -> bool:
            return set(task_ids) <= set(self.outcomes())

        await eventually(all_done, timeout_s=timeout_s, what=f"outcomes of {len(task_ids)} tasks")
        return {t: self.outcomes()[t] for t in task_ids}

    async def start_planner(self) -> Planner:
        """Start one more planner process-equivalent (consumers and timers, no HTTP)."""
        planner = create_app(self.settings())
        await planner.start()
        self.direct.append(planner)
        return planner


SERVED = ("runs", "failures", "tasks", "api")
"""The in-process planners the test modules use, one each, started together."""


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def make_env(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[..., Any]]:
    """Isolated planner deployments by key, each with its own topics, group and database.

    A planner joins its group with six consumers (a rebalance each), which takes seconds,
    so the served planners of every module start together once per session, and the
    tests of a module share theirs (with distinct workflow names).
    """
    envs: list[Env] = []
    stacks: list[Any] = []
    made: dict[str, Env] = {}

    async def build(key: str, serve: bool) -> Env:
        database_url = f"sqlite:///{tmp_path_factory.mktemp(key) / 'planner.db'}"
        env = Env(kafka_bootstrap, unique("pl") + ".", database_url, unique("planner"))
        await create_topics(
            kafka_bootstrap,
            [env.topic(t) for t in CONSUMED + PRODUCED]
            + [env.topic(t) + ".dlq" for t in CONSUMED + list(REPLY_OF)],
            partitions=3,
        )
        envs.append(env)
        outputs = (
            "tasks.completed",
            "tasks.failed",
            "runs.events",
            "audit.log",
            "workflows.events",
        )
        env.collector = Collector(kafka_bootstrap, [env.topic(t) for t in outputs])
        await env.collector.start()
        if serve:
            planner = create_app(env.settings())
            env.planners.append(planner)
            stack = serving(planner.http)
            env.base_url = await stack.__aenter__()
            stacks.append(stack)
        made[key] = env
        return env

    async def make(*, key: str, serve: bool = True) -> Env:
        if key not in made:
            if key in SERVED:
                await asyncio.gather(*(build(k, True) for k in SERVED if k not in made))
            else:
                await build(key, serve)
        return made[key]

    yield make
    for stack in reversed(stacks):
        await stack.__aexit__(None, None, None)
    for env in envs:
        for planner in env.direct:
            await planner.stop()
        for responder in env.responders:
            await responder.stop()
        if env.collector is not None:
            await env.collector.stop()
