"""Test support: audit records made fast, produced with a plain client; topics like audit.log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agentbus.bus.admin import wait_for_leaders
from contracts.topics import topic, topic_configs

AUDIT_TYPE = b"agentbus.audit.recorded.v1"
# Near now: the broker deletes records older than a topic's retention, by timestamp.
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)


def audit_payload(i: int, *, run_id: str, step_id: str, when: datetime) -> dict[str, Any]:
    """A valid AuditRecorded payload, varied by `i`."""
    return {
        "actor": {"kind": "service", "id": "model-router"},
        "action": ("model.call", "tool.invoke", "guardrail.check", "approval.decide")[i % 4],
        "resource_type": "step",
        "resource_id": f"{run_id}.{step_id}",
        "outcome": "succeeded",
        "details": {"i": i},
        "occurred_at": when.isoformat(),
        "step": {"run_id": run_id, "step_id": step_id, "attempt": 1},
        "model": {"provider": "local", "model": "echo-1", "alias": None, "cached": False},
        "usage": {"prompt_tokens": 10 + i % 7, "completion_tokens": 5},
        "cost_usd": "0.000150",
        "trace_id": f"{i:032x}",
    }


def audit_records(
    count: int,
    *,
    tenants: Sequence[str] = ("acme",),
    runs: int = 50,
    start: datetime = T0,
    step_ms: int = 10,
    prefix: str | None = None,
) -> list[tuple[bytes, bytes, list[tuple[str, bytes]], int]]:
    """(key, value, headers, timestamp_ms) of `count` audit records, round-robin over tenants."""
    prefix = prefix or uuid.uuid4().hex[:8]
    out = []
    for i in range(count):
        tenant = tenants[i % len(tenants)]
        run_id = f"run-{prefix}-{tenant}-{i % runs}"
        when = start + timedelta(milliseconds=i * step_ms)
        value = orjson.dumps(audit_payload(i, run_id=run_id, step_id=f"s{i % 5}", when=when))
        headers = [
            ("ce_id", f"{prefix}-{i}".encode()),
            ("ce_source", b"model-router"),
            ("ce_type", AUDIT_TYPE),
            ("ce_specversion", b"1.0"),
            ("ce_time", when.isoformat().encode()),
            ("ce_tenantid", tenant.encode()),
            ("ce_runid", run_id.encode()),
            ("content-type", b"application/json"),
        ]
        out.append((run_id.encode(), value, headers, int(when.timestamp() * 1000)))
    return out


async def produce_fast(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes, bytes, list[tuple[str, bytes]], int]],
) -> None:
    """Publish with one idempotent producer, many sends in flight, record timestamps kept."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:
        pending = []
        for key, value, headers, ts in records:
            pending.append(
                await producer.send(topic, value, key=key, headers=headers, timestamp_ms=ts)
            )
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def audit_topic_named(bootstrap: str, name: str, partitions: int = 3) -> str:
    """Create `name` configured like the catalogue's audit.log (infinite retention)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        configs = topic_configs(topic("audit.log"))
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
        await wait_for_leaders(admin, [name], timeout_s=30)
    finally:
        await admin.close()
    return name
