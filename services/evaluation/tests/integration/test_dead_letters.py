"""AgentOps DLQ counts come from the DLQ topics themselves (real broker): deliberately poisoned
records are dead-lettered by the service's bus, the DLQ reader attributes each by its headers
(tenant, run -> workflow version) or payload, counts every record of each DLQ topic from its
offsets (headerless ones too), and the DLQ-growth rule fires once, signed to a receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from evaluation.settings import AlertRule, DeadLetterSettings, WebhookTarget
from evaluation.webhooks import verify
from pydantic import SecretStr

from agentbus.testing import eventually, produce, raw_record, unique
from contracts.envelope import new_envelope
from contracts.events.evaluation import AlertRaised
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, ActorKind

from .harness import (
    OTHER,
    TENANT,
    client,
    fake_planner,
    make_settings,
    make_topics,
    read_events,
    running,
)
from .test_agentops import SECRET, webhook_receiver

pytestmark = pytest.mark.integration


def task(workflow: str = "refunds", version: str = "1.0.0") -> TaskSubmitted:
    return TaskSubmitted(
        task_id=unique("prod"),
        workflow=workflow,
        workflow_version=version,
        input={},
        requested_by=Actor(kind=ActorKind.SYSTEM, id="shop"),
    )


def poisoned(tenant: str, run_id: str) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """Valid CloudEvents headers of a task.completed for `run_id`, a body that is not one."""
    envelope = new_envelope(task(), source="planner", tenant_id=tenant, run_id=run_id)
    key, _value, headers = raw_record(envelope)
    typed = [(k, v if k != "ce_type" else b"agentbus.task.completed.v1") for k, v in headers]
    return key, json.dumps({"task_id": "t-poison"}).encode(), typed


def planner_dead_letter(submitted: TaskSubmitted) -> tuple[bytes | None, bytes, list[Any]]:
    """A task the planner's bus dead-lettered: its record plus the dlq.* headers."""
    key, value, headers = raw_record(new_envelope(submitted, source="crm", tenant_id=TENANT))
    cause = {
        "dlq.error.class": "planner.WorkflowNotFound",
        "dlq.error.message": "no published workflow",
        "dlq.original.topic": "tasks.submitted",
        "dlq.original.partition": "0",
        "dlq.original.offset": "7",
        "dlq.consumer.group": "planner",
        "dlq.attempts": "1",
        "dlq.failed.at": datetime.now(UTC).isoformat(),
    }
    return key, value, [*headers, *((k, v.encode()) for k, v in cause.items())]


async def test_dlq_counts_are_read_from_the_dlq_topics(
    kafka_bootstrap: str, database_url: str
) -> None:
    prefix = unique("dlq") + "."
    await make_topics(kafka_bootstrap, prefix)
    rule = AlertRule(
        name="refund-dlq",
        tenant=TENANT,
        workflow="refunds",
        version="1.0.0",
        metric="dlq_count",
        threshold=0,
        window_s=600,
    )
    completed = f"{prefix}tasks.completed"
    async with webhook_receiver() as receiver:
        settings = make_settings(
            kafka_bootstrap,
            database_url,
            prefix,
            alerts=[rule],
            webhooks={TENANT: WebhookTarget(url=receiver.url, secret=SecretStr(SECRET))},
        )
        settings.dead_letters = DeadLetterSettings(
            poll_s=0.2, count_interval_s=0.5, metadata_max_age_s=1
        )
        async with (
            running(settings) as (service, url),
            fake_planner(kafka_bootstrap, prefix, lambda _t: {"ok": True}) as planner,
            client(url) as ann,
            client(url, "k-eve") as eve,
        ):
            production = task()
            await planner.finish(TENANT, production)  # a run of refunds@1.0.0
            run_id = f"run-{production.task_id}"

            async def figures(api: Any, dlq: int) -> dict[str, Any]:
                seen: dict[str, Any] = {}

                async def counted() -> bool:
                    nonlocal seen
                    params = {"workflow": "refunds", "version": "1.0.0"}
                    seen = (await api.get("/v1/agentops", params=params)).json()
                    return bool(seen["runs"] == 1 and seen["dlq_count"] == dlq)

                await eventually(counted, timeout_s=30, what=f"{dlq} dead letters counted")
                return seen

            await figures(ann, 0)
            # Poison: the service's own bus dead-letters each of these to tasks.completed.dlq.
            await produce(
                kafka_bootstrap,
                completed,
                [
                    poisoned(TENANT, run_id),  # acme, its run is refunds@1.0.0
                    (b"k", b"not json", []),  # no headers: counted on the topic only
                    poisoned(OTHER, "run-of-globex"),  # another tenant's
                ],
            )
            # Another service's dead letter, attributed through its payload.
            await produce(
                kafka_bootstrap, f"{prefix}tasks.submitted.dlq", [planner_dead_letter(task())]
            )
            seen = await figures(ann, 2)
            assert seen["dlq_by_topic"] == {completed: 1, "tasks.submitted": 1}
            await eventually(lambda: _count(receiver, 1), timeout_s=30, what="DLQ alert")

            # More growth while firing: counted, not raised again.
            await produce(kafka_bootstrap, completed, [poisoned(TENANT, run_id)])
            await figures(ann, 3)

            async def totals() -> bool:
                found = service.dead_letters.totals
                return bool(
                    found.get(f"{completed}.dlq") == 4
                    and found.get(f"{prefix}tasks.submitted.dlq") == 1
                )

            await eventually(totals, timeout_s=30, what="DLQ record counts from offsets")
            # Globex sees none of acme's dead letters (its own has no workflow version).
            other = await eve.get("/v1/agentops", params={"workflow": "refunds"})
            assert other.json()["dlq_count"] == 0

    raised = [
        e.data
        for e in await read_events(kafka_bootstrap, f"{prefix}evaluations.events")
        if isinstance(e.data, AlertRaised)
    ]
    assert len(raised) == 1
    assert raised[0].metric == "dlq_count"
    # It fired on the first attributed dead letter to arrive (either DLQ), then stayed quiet.
    assert raised[0].value in (1, 2)
    assert sum(raised[0].details["dlq_by_topic"].values()) == raised[0].value
    assert len(receiver.received) == 1
    payload, signature = receiver.received[0]
    assert verify(SECRET, payload, signature)


async def _count(receiver: Any, n: int) -> bool:
    return len(receiver.received) == n
