"""Bad input never crashes the service: poison events go to the DLQ with their cause, bad HTTP
requests get 4xx JSON with a stable code."""

from __future__ import annotations

import json

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from agentbus.bus.dlq import DeadLetterInfo
from agentbus.testing import produce, raw_record, unique
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, ActorKind

from .harness import TENANT, client, make_settings, make_topics, running

pytestmark = pytest.mark.integration


async def dead_letters(bootstrap: str, topic: str, count: int) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        for _ in range(100):  # bounded: 100 polls of 0.3 s
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                found.extend({k: v.decode() for k, v in r.headers} for r in records)
            if len(found) >= count:
                return found
    finally:
        await consumer.stop()
    raise AssertionError(f"{len(found)} dead letters on {topic}, expected {count}")


async def test_poison_events_are_dead_lettered_and_bad_requests_get_json_errors(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    prefix = unique("bad") + "."
    await make_topics(kafka_bootstrap, prefix)
    async with running(make_settings(kafka_bootstrap, sqlite_url, prefix)) as (_service, url):
        completed = f"{prefix}tasks.completed"
        # No CloudEvents headers at all; then a task event with a body that is not one.
        wrong = new_envelope(
            TaskSubmitted(
                task_id="t-1",
                workflow="refunds",
                requested_by=Actor(kind=ActorKind.USER, id="ann"),
            ),
            source="test",
            tenant_id=TENANT,
        )
        key, _value, headers = raw_record(wrong)
        typed = [(k, v if k != "ce_type" else b"agentbus.task.completed.v1") for k, v in headers]
        await produce(
            kafka_bootstrap,
            completed,
            [
                (b"k", b"not json", []),
                (key, json.dumps({"task_id": "t-1"}).encode(), typed),
            ],
        )
        letters = await dead_letters(kafka_bootstrap, f"{completed}.dlq", 2)
        causes = [DeadLetterInfo.from_headers(h) for h in letters]
        assert all(c.original_topic == completed for c in causes)
        by_class = {c.error_class: c.error_message for c in causes}
        assert "missing CloudEvents header" in by_class["contracts.errors.EnvelopeError"]
        violation = by_class["contracts.errors.ContractViolationError"]
        assert "run_id: Field required" in violation

        async with httpx.AsyncClient(base_url=url) as anonymous:
            missing = await anonymous.get("/v1/evaluations")
            assert missing.status_code == 401
            assert missing.json()["code"] == "auth.missing"
            assert (await anonymous.get("/healthz")).status_code == 200
        async with client(url) as ann:
            invalid = await ann.post("/v1/evaluations", json={"workflow": ""})
            assert invalid.status_code == 422
            assert invalid.json()["code"] == "request.invalid"
            unknown = await ann.get("/v1/evaluations/nope")
            assert unknown.status_code == 404
            assert unknown.json() == {"code": "not_found", "message": "evaluation 'nope' not found"}
            no_dataset = await ann.post(
                "/v1/evaluations", json={"workflow": "refunds", "version": "1.0.0"}
            )
            assert no_dataset.status_code == 404
            assert no_dataset.json()["code"] == "evaluation.no_dataset"
            bad_check = json.dumps({"id": "a", "input": {}, "checks": [{"type": "regexp"}]})
            rejected = await ann.post(
                "/v1/datasets",
                json={"workflow": "refunds", "name": "core", "cases_jsonl": bad_check},
            )
            assert rejected.status_code == 422
            assert rejected.json()["message"].startswith("line 1: checks.0")
            assert (await ann.get("/readyz")).status_code == 200
