"""An evaluation service in-process on the real broker, and a planner stand-in that answers.

The stand-in is a real Kafka consumer of the test's tasks.submitted: for each task it
publishes what the planner would (run started/completed or failed on runs.events, the
task's result on tasks.completed / tasks.failed, and model spend on usage.records).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from evaluation.app import EvaluationService, create_app
from evaluation.settings import (
    AlertRule,
    EvaluationBusSettings,
    EvaluationHttpSettings,
    EvaluationSettings,
    WebhookTarget,
)

from agentbus.http.testing import serving
from agentbus.testing import create_topics, read_to_end, unique
from contracts.envelope import Envelope, decode, encode, new_envelope
from contracts.events.run import RunCompleted, RunFailed, RunStarted
from contracts.events.task import TaskCompleted, TaskFailed, TaskSubmitted
from contracts.events.usage import UsageRecorded
from contracts.types import ErrorInfo, StepRef, Timings, TokenUsage, WorkflowRef

TENANT, OTHER = "acme", "globex"
KEYS = {
    "k-ann": (TENANT, "ann", []),
    "k-root": (TENANT, "root", ["admin"]),
    "k-eve": (OTHER, "eve", ["admin"]),
}
TOPICS = [
    "tasks.submitted",
    "tasks.completed",
    "tasks.failed",
    "runs.events",
    "usage.records",
    "evaluations.events",
    "audit.log",
]


def hash_of(text: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def make_settings(
    bootstrap: str,
    database_url: str,
    prefix: str,
    *,
    group: str | None = None,
    alerts: list[AlertRule] | None = None,
    webhooks: dict[str, WebhookTarget] | None = None,
) -> EvaluationSettings:
    """Fast-polling settings on the test's broker, database and prefixed topics."""
    return EvaluationSettings(
        bus=EvaluationBusSettings(
            bootstrap_servers=bootstrap,
            consumer_group=group or unique("evaluation"),
            client_id="evaluation-test",
            database_url=database_url,
            outbox_relay_interval_s=0.2,
            outbox_relay_grace_s=0.5,
            commit_interval_s=0.2,
        ),
        http=EvaluationHttpSettings(
            api_keys=[  # type: ignore[list-item]
                {"key": k, "tenant": t, "subject": s, "roles": r} for k, (t, s, r) in KEYS.items()
            ]
        ),
        topic_prefix=prefix,
        alerts=alerts or [],
        webhooks=webhooks or {},
    )


async def make_topics(bootstrap: str, prefix: str) -> None:
    names = [f"{prefix}{t}" for t in TOPICS]
    await create_topics(bootstrap, [*names, *(f"{n}.dlq" for n in names)], partitions=2)


@asynccontextmanager
async def running(settings: EvaluationSettings) -> AsyncIterator[tuple[EvaluationService, str]]:
    """The service with its HTTP API on 127.0.0.1 (its lifespan runs the bus)."""
    service = create_app(settings)
    async with serving(service.http) as url:
        await service.bus.wait_until_assigned(30)
        yield service, url


def client(url: str, key: str = "k-ann") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=30)


Answer = Callable[[TaskSubmitted], dict[str, Any] | str]
"""A task's output (completed) or an error message (failed)."""


@dataclass
class FakePlanner:
    """Answers the test's tasks as the planner would, with the run's model spend."""

    bootstrap: str
    prefix: str
    answer: Answer
    latency_ms: int = 120
    cost_usd: Decimal = Decimal("0.0004")
    pace_s: float = 0.0
    seen: list[TaskSubmitted] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            f"{self.prefix}tasks.submitted",
            bootstrap_servers=self.bootstrap,
            group_id=unique("fake-planner"),
            auto_offset_reset="earliest",
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self._consumer.start()
        await self._producer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
        await self._producer.stop()

    async def send(self, topic: str, envelope: Envelope[Any]) -> None:
        record = encode(envelope)
        await self._producer.send_and_wait(
            f"{self.prefix}{topic}", record.value, key=record.key, headers=list(record.headers)
        )

    async def _run(self) -> None:
        async for message in self._consumer:
            envelope = decode(message.headers, message.value)
            task: TaskSubmitted = envelope.data
            self.seen.append(task)
            self.tenants.append(envelope.tenantid)
            await self.finish(envelope.tenantid, task)
            if self.pace_s:
                await asyncio.sleep(self.pace_s)  # spreads the load over time (kill tests)

    async def finish(self, tenant: str, task: TaskSubmitted) -> None:
        """Publish a run's lifecycle and result for `task`."""
        run_id = f"run-{task.task_id}"
        ref = WorkflowRef(
            name=task.workflow,
            version=task.workflow_version or "1.0.0",
            content_hash=hash_of(f"{task.workflow}@{task.workflow_version}"),
        )
        now = datetime.now(UTC)
        timings = Timings(
            started_at=now - timedelta(milliseconds=self.latency_ms),
            finished_at=now,
            duration_ms=self.latency_ms,
        )

        def env(data: Any) -> Envelope[Any]:
            return new_envelope(data, source="planner", tenant_id=tenant, run_id=run_id)

        await self.send(
            "runs.events", env(RunStarted(run_id=run_id, task_id=task.task_id, workflow=ref))
        )
        usage = UsageRecorded(
            step=StepRef(run_id=run_id, step_id="classify"),
            request_id=str(uuid.uuid4()),
            alias="default",
            provider="local",
            model="local-small",
            usage=TokenUsage(prompt_tokens=40, completion_tokens=10),
            cost_usd=self.cost_usd,
            budget_period=now.strftime("%Y-%m"),
        )
        await self.send("usage.records", env(usage))
        result = self.answer(task)
        if isinstance(result, str):
            error = ErrorInfo(code="step.failed", message=result)
            await self.send(
                "runs.events",
                env(
                    RunFailed(
                        run_id=run_id,
                        task_id=task.task_id,
                        workflow=ref,
                        error=error,
                        timings=timings,
                    )
                ),
            )
            await self.send(
                "tasks.failed",
                env(TaskFailed(task_id=task.task_id, run_id=run_id, error=error, timings=timings)),
            )
            return
        await self.send(
            "runs.events",
            env(
                RunCompleted(
                    run_id=run_id,
                    task_id=task.task_id,
                    workflow=ref,
                    output=result,
                    timings=timings,
                )
            ),
        )
        await self.send(
            "tasks.completed",
            env(
                TaskCompleted(
                    task_id=task.task_id,
                    run_id=run_id,
                    workflow=ref,
                    output=result,
                    timings=timings,
                )
            ),
        )


@asynccontextmanager
async def fake_planner(bootstrap: str, prefix: str, answer: Answer) -> AsyncIterator[FakePlanner]:
    planner = FakePlanner(bootstrap, prefix, answer)
    await planner.start()
    try:
        yield planner
    finally:
        await planner.stop()


async def read_events(bootstrap: str, topic: str) -> list[Envelope[Any]]:
    """Every event on a topic so far (up to its end offsets when called)."""
    return [decode(r.headers, r.value) for r in await read_to_end(bootstrap, topic)]


def jsonl(*cases: dict[str, Any]) -> str:
    return "\n".join(json.dumps(c) for c in cases)
