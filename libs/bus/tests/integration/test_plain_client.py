"""Any Kafka client can submit a task: plain ce_* headers and a hand-written JSON body."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agentbus.bus import Bus
from agentbus.storage import UnitOfWork
from agentbus.testing import eventually, produce
from contracts.envelope import Envelope
from contracts.events.task import TaskSubmitted

pytestmark = pytest.mark.integration


async def test_kcat_style_task_is_a_valid_cloudevent(case, started):
    seen: list[Envelope[Any]] = []

    async def handler(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        seen.append(envelope)

    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types=frozenset({"agentbus.task.submitted.v1"}))(handler)
    event_id = str(uuid.uuid4())
    # What `kcat -P -H ce_id=... -H ce_type=... -k task-42` would send: bytes, nothing else.
    headers = [
        ("ce_id", event_id.encode()),
        ("ce_source", b"urn:upstream:crm"),
        ("ce_type", b"agentbus.task.submitted.v1"),
        ("ce_specversion", b"1.0"),
        ("ce_tenantid", b"acme"),
    ]
    body = json.dumps(
        {
            "task_id": "task-42",
            "workflow": "summarise-ticket",
            "input": {"ticket": "T-1"},
            "requested_by": {"kind": "system", "id": "crm"},
        }
    ).encode()
    await produce(case.bootstrap, case.topic, [(b"task-42", body, headers)])
    await started(bus)

    async def received() -> bool:
        return len(seen) == 1

    await eventually(received, what="the plain-client task")
    [envelope] = seen
    assert isinstance(envelope.data, TaskSubmitted)
    assert envelope.id == event_id
    assert envelope.tenantid == "acme"
    assert envelope.source == "urn:upstream:crm"
    assert envelope.data.workflow == "summarise-ticket"
    assert envelope.data.priority == "normal"
