"""A task published as any Kafka client would: CloudEvents headers and JSON, no agentbus code."""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

__all__ = ["kcat_command", "publish_task", "task_headers"]

TOPIC = "tasks.submitted"


def task_headers(tenant: str, source: str) -> dict[str, str]:
    """The CloudEvents binary-mode headers of a task, with a fresh W3C trace context."""
    return {
        "ce_id": str(uuid.uuid4()),
        "ce_source": source,
        "ce_type": "agentbus.task.submitted.v1",
        "ce_specversion": "1.0",
        "ce_time": datetime.now(UTC).isoformat(),
        "ce_tenantid": tenant,
        # Sampled trace started by the upstream system; the whole run joins it.
        "ce_traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01",
        "content-type": "application/json",
    }


def kcat_command(bootstrap: str, key: str, headers: dict[str, str], task: dict[str, Any]) -> str:
    """The equivalent shell command for kcat, for a reader to copy."""
    parts = ["kcat", "-b", bootstrap, "-P", "-t", TOPIC, "-k", key]
    for name, value in headers.items():
        parts += ["-H", f"{name}={value}"]
    return " ".join(shlex.quote(p) for p in parts) + " <<< " + shlex.quote(json.dumps(task))


async def _send(bootstrap: str, key: str, headers: dict[str, str], task: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            TOPIC,
            json.dumps(task).encode(),
            key=key.encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
    finally:
        await producer.stop()


def publish_task(bootstrap: str, key: str, headers: dict[str, str], task: dict[str, Any]) -> None:
    """Publish one task record with plain headers and a JSON value."""
    asyncio.run(_send(bootstrap, key, headers, task))
