"""A guardrail service in-process on a real broker, database and HTTP server."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from guardrail.app import GuardrailService, create_app
from guardrail.settings import (
    GuardrailBusSettings,
    GuardrailHttpSettings,
    GuardrailSettings,
    GuardrailTopics,
)
from pydantic import SecretStr

from agentbus.guard import Guard
from agentbus.http.testing import serving
from agentbus.telemetry import Telemetry
from agentbus.testing import create_topics, produce, raw_record, unique
from contracts.envelope import Envelope, new_envelope
from contracts.events import Direction, GuardrailCheckRequested
from contracts.types import StepRef

MASTER_KEY = "integration-test-master-key-0123456789abcdef"
PEOPLE = {
    # subject: (tenant, roles)
    "ann": ("acme", ["guardrail.restore"]),
    "bo": ("acme", []),
    "gil": ("globex", ["guardrail.restore"]),
}

ACME_V1 = """
name: default
version: "1"
categories:
  pii: {action: mask, mask: label}
  secret: {action: block}
  injection: {action: block}
"""
GLOBEX_V1 = """
name: default
version: "7"
categories:
  pii: {action: block}
  secret: {action: block}
"""


def key_of(subject: str) -> str:
    """Each person's API key in these tests."""
    return f"key-{subject}-0123456789abcdef"


def write_policy(root: Path, tenant: str, text: str, *, name: str = "default") -> None:
    """Write a policy file and move its mtime on, so a reload sees it whatever the clock."""
    path = root / tenant / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    stamp = max(previous + 1_000_000_000, time.time_ns())
    os.utime(path, ns=(stamp, stamp))


def policy_dir(root: Path) -> Path:
    """Acme masks PII, globex blocks it; both block secrets."""
    write_policy(root, "acme", ACME_V1)
    write_policy(root, "globex", GLOBEX_V1)
    return root


def make_topics() -> GuardrailTopics:
    """Unique topics for one test."""
    return GuardrailTopics(
        requests=unique("guardrail.requests"),
        verdicts=unique("guardrail.verdicts"),
        audit=unique("audit.log"),
    )


def make_settings(
    bootstrap: str, database_url: str, topics: GuardrailTopics, policies: Path
) -> GuardrailSettings:
    """Fast-polling settings on the test's broker, database, topics and policy folder."""
    return GuardrailSettings(
        bus=GuardrailBusSettings(
            bootstrap_servers=bootstrap,
            consumer_group=unique("guardrail"),
            client_id="guardrail-test",
            database_url=database_url,
            outbox_relay_interval_s=0.2,
            outbox_relay_grace_s=0.5,
            commit_interval_s=0.2,
        ),
        http=GuardrailHttpSettings(
            api_keys=[
                {"key": key_of(s), "tenant": t, "subject": s, "roles": r}  # type: ignore[list-item]
                for s, (t, r) in PEOPLE.items()
            ]
        ),
        topics=topics,
        policy_dir=policies,
        policy_check_interval_s=0,
        vault_master_key=SecretStr(MASTER_KEY),
    )


def check_request(
    content: Any,
    *,
    tenant: str = "acme",
    run_id: str | None = None,
    policy: str | None = None,
    output_schema: dict[str, Any] | None = None,
    direction: Direction = Direction.INPUT,
) -> Envelope[GuardrailCheckRequested]:
    """A check request as the planner sends it."""
    run = run_id or unique("run")
    data = GuardrailCheckRequested(
        step=StepRef(run_id=run, step_id="draft"),
        direction=direction,
        content=content,
        policy=policy,
        output_schema=output_schema,
    )
    trace = uuid.uuid4().hex
    return new_envelope(
        data,
        source="planner",
        tenant_id=tenant,
        run_id=run,
        traceparent=f"00-{trace}-{trace[:16]}-01",
    )


@dataclass
class Harness:
    """One running guardrail and what a test needs around it."""

    bootstrap: str
    topics: GuardrailTopics
    service: GuardrailService
    http: httpx.AsyncClient

    async def send(self, *envelopes: Envelope[Any]) -> None:
        await produce(self.bootstrap, self.topics.requests, [raw_record(e) for e in envelopes])

    async def post(self, subject: str, path: str, body: Any) -> httpx.Response:
        return await self.http.post(path, json=body, headers={"X-API-Key": key_of(subject)})


@asynccontextmanager
async def running(
    bootstrap: str,
    database_url: str,
    policies: Path,
    guard: Guard,
    *,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[Harness]:
    """Start the service (bus and HTTP) on unique topics; stop it afterwards."""
    topics = make_topics()
    await create_topics(
        bootstrap,
        [topics.requests, f"{topics.requests}.dlq", topics.verdicts, topics.audit],
        partitions=2,
    )
    settings = make_settings(bootstrap, database_url, topics, policies)
    service = create_app(settings, telemetry=telemetry, guard=guard)
    async with serving(service.http) as url, httpx.AsyncClient(base_url=url) as client:
        await service.bus.wait_until_assigned()
        yield Harness(bootstrap, topics, service, client)


async def read_records(
    bootstrap: str, topic: str, *, count: int, timeout_s: float = 30.0, extra_s: float = 0.0
) -> list[ConsumerRecord[Any, Any]]:
    """At least `count` records of `topic` (then `extra_s` more seconds of any others)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[ConsumerRecord[Any, Any]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(found) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {len(found)} of {count} records in {timeout_s}s")
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(records)
        settle = time.monotonic() + extra_s
        while time.monotonic() < settle:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                found.extend(records)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found
