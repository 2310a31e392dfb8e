"""An approval service in-process on a real broker, database and HTTP server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from approval.app import create_app
from approval.settings import (
    ApprovalBusSettings,
    ApprovalHttpSettings,
    ApprovalSettings,
    ApprovalTopics,
    WebhookSettings,
)

from agentbus.http.testing import serving
from agentbus.testing import create_topics, produce, raw_record, unique
from contracts.envelope import Envelope, decode, new_envelope
from contracts.events.approval import ApprovalCancelRequested, ApprovalRequested
from contracts.types import Actor, ActorKind, StepRef

TENANT = "acme"
OTHER = "globex"
PEOPLE = {
    # subject: (tenant, roles)
    "alice": (TENANT, ["approver", "finance"]),
    "bob": (TENANT, ["approver", "finance"]),
    "carol": (TENANT, ["approver", "finance"]),
    "dave": (TENANT, ["approver", "finance"]),
    "erin": (TENANT, ["approver", "support"]),
    "frank": (TENANT, ["approver", "managers"]),
    "nobody": (TENANT, []),
    "mallory": (OTHER, ["approver", "finance"]),
}


def key_of(subject: str) -> str:
    """Each person's API key in these tests."""
    return f"key-{subject}-0123456789abcdef"


def api_keys() -> list[dict[str, Any]]:
    """Settings entries for every person."""
    return [
        {"key": key_of(s), "tenant": t, "subject": s, "roles": roles}
        for s, (t, roles) in PEOPLE.items()
    ]


def make_topics() -> ApprovalTopics:
    """Unique topics for one test."""
    return ApprovalTopics(
        requests=unique("approval.requests"),
        decisions=unique("approval.decisions"),
        audit=unique("audit.log"),
    )


def make_settings(
    bootstrap: str,
    database_url: str,
    topics: ApprovalTopics,
    *,
    group: str | None = None,
    webhooks: WebhookSettings | None = None,
    expiry_warning_s: float = 0.0,
) -> ApprovalSettings:
    """Fast-polling settings on the test's broker, database and topics."""
    return ApprovalSettings(
        bus=ApprovalBusSettings(
            bootstrap_servers=bootstrap,
            consumer_group=group or unique("approval"),
            client_id="approval-test",
            database_url=database_url,
            outbox_relay_interval_s=0.2,
            outbox_relay_grace_s=0.5,
            commit_interval_s=0.2,
            timer_poll_interval_s=0.1,
        ),
        http=ApprovalHttpSettings(api_keys=api_keys()),  # type: ignore[arg-type]
        topics=topics,
        webhooks=webhooks or WebhookSettings(),
        expiry_warning_s=expiry_warning_s,
    )


def approval_request(
    *,
    tenant: str = TENANT,
    requester: str = "alice",
    required: int = 1,
    roles: list[str] | None = None,
    deadline_in_s: float = 600,
    payload: dict[str, Any] | None = None,
    **policy: Any,
) -> Envelope[ApprovalRequested]:
    """An approval request envelope as the planner sends it."""
    run_id = unique("run")
    data = ApprovalRequested(
        step=StepRef(run_id=run_id, step_id="pay"),
        subject="Pay invoice 42",
        details={"invoice": "42", "amount": "120.00"},
        payload=payload if payload is not None else {"invoice": "42", "amount": "120.00"},
        required_approvals=required,
        roles=roles if roles is not None else ["finance"],
        deadline=datetime.now(UTC) + timedelta(seconds=deadline_in_s),
        requested_by=Actor(kind=ActorKind.USER, id=requester),
        **policy,
    )
    return new_envelope(data, source="planner", tenant_id=tenant, run_id=run_id)


def cancel_request(request: Envelope[ApprovalRequested]) -> Envelope[ApprovalCancelRequested]:
    """The planner withdrawing `request`."""
    data = ApprovalCancelRequested(
        step=request.data.step, request_id=request.id, reason="run cancelled"
    )
    return new_envelope(data, source="planner", tenant_id=request.tenantid, run_id=request.runid)


@dataclass
class Client:
    """HTTP calls as one person."""

    http: httpx.AsyncClient

    async def get(self, subject: str, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers={"X-API-Key": key_of(subject)})

    async def post(self, subject: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(path, json=body, headers={"X-API-Key": key_of(subject)})

    async def vote(
        self, subject: str, approval_id: str, choice: str = "approve", sha: str | None = None
    ) -> httpx.Response:
        if sha is None:
            view = await self.get(
                "dave" if subject != "dave" else "carol", f"/v1/approvals/{approval_id}"
            )
            sha = view.json()["payload_sha256"]
        return await self.post(
            subject,
            f"/v1/approvals/{approval_id}/{choice}",
            {"payload_sha256": sha, "comment": "ok"},
        )


@dataclass
class Harness:
    """One running approval service and what a test needs around it."""

    bootstrap: str
    topics: ApprovalTopics
    client: Client
    url: str
    seen: dict[str, Any] = field(default_factory=dict)

    async def send(self, *envelopes: Envelope[Any]) -> None:
        await produce(self.bootstrap, self.topics.requests, [raw_record(e) for e in envelopes])

    async def approval_for(self, request_id: str, subject: str = "bob") -> dict[str, Any]:
        """The approval created for a request, once the service has stored it."""
        from agentbus.testing import eventually

        found: dict[str, Any] = {}

        async def stored() -> bool:
            response = await self.client.get(subject, "/v1/approvals")
            for row in response.json():
                if row["request_id"] == request_id:
                    found.update(row)
            return bool(found)

        await eventually(stored, what=f"approval for {request_id}")
        return found


async def wait_events(
    bootstrap: str, topic: str, count: int, *, timeout_s: float = 30.0, settle_s: float = 1.0
) -> list[Envelope[Any]]:
    """Read until `count` events are there, then a little longer to catch extra ones."""
    import asyncio
    import time

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[Envelope[Any]] = []
    try:
        end = time.monotonic() + timeout_s
        while len(out) < count:
            if time.monotonic() > end:
                raise AssertionError(f"{topic}: {len(out)} of {count} events in {timeout_s}s")
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                out.extend(decode(r.headers, r.value) for r in records)
        settle_end = time.monotonic() + settle_s
        while time.monotonic() < settle_end:
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                out.extend(decode(r.headers, r.value) for r in records)
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return out


@asynccontextmanager
async def running(
    bootstrap: str,
    database_url: str,
    topics: ApprovalTopics | None = None,
    *,
    partitions: int = 1,
    telemetry: Any = None,
    **kwargs: Any,
) -> AsyncIterator[Harness]:
    """Start the service (bus, loops, HTTP) and yield a harness; stop it afterwards."""
    topics = topics or make_topics()
    names = [topics.requests, topics.decisions, topics.audit, topics.requests + ".dlq"]
    await create_topics(bootstrap, names, partitions=partitions)
    settings = make_settings(bootstrap, database_url, topics, **kwargs)
    service = create_app(settings, telemetry=telemetry)
    async with serving(service.http) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        await service.bus.wait_until_assigned()
        yield Harness(bootstrap, topics, Client(http), url)


def body(response: httpx.Response) -> dict[str, Any]:
    """JSON of a response, for assertions with context."""
    return json.loads(response.text)
