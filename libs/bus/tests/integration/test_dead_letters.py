"""Poison records land in <topic>.dlq with their cause, and the consumer goes on."""

from __future__ import annotations

from datetime import datetime

import pytest

from agentbus.bus import Bus
from agentbus.testing import consume, eventually, produce, raw_record
from agentbus.testing.effects import count_effects, record_effect
from contracts.envelope import headers_to_dict

pytestmark = pytest.mark.integration

DLQ_HEADERS = {
    "dlq.error.class",
    "dlq.error.message",
    "dlq.original.topic",
    "dlq.original.partition",
    "dlq.original.offset",
    "dlq.consumer.group",
    "dlq.attempts",
    "dlq.failed.at",
}


async def test_non_json_and_contract_violations_are_dead_lettered(case, started, make_task):
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    good = make_task()
    key, value, headers = raw_record(good)
    not_json = (key, b"{not json", headers)
    wrong = make_task()
    _, _, wrong_headers = raw_record(wrong)
    violates = (key, b'{"workflow": "echo"}', wrong_headers)  # task_id, requested_by missing
    await produce(case.bootstrap, case.topic, [not_json, violates, (key, value, headers)])
    await started(bus)

    async def good_one_applied() -> bool:
        async with bus.uow.sessions() as session:
            return await count_effects(session) == 1

    await eventually(good_one_applied, what="the valid record after two poison ones")
    letters = await consume(case.bootstrap, case.dlq, count=2)
    first, second = (headers_to_dict(r.headers) for r in letters)
    for record, h in zip(letters, (first, second), strict=True):
        assert h.keys() >= DLQ_HEADERS
        assert h["dlq.original.topic"] == case.topic
        assert h["dlq.original.partition"] == "0"
        assert h["dlq.consumer.group"] == case.group
        assert h["dlq.attempts"] == "1"
        assert datetime.fromisoformat(h["dlq.failed.at"]).tzinfo is not None
        assert record.key == key
    assert first["dlq.error.class"] == "contracts.errors.MessageParseError"
    assert first["dlq.original.offset"] == "0"
    assert letters[0].value == b"{not json"
    assert second["dlq.error.class"] == "contracts.errors.ContractViolationError"
    assert "task_id" in second["dlq.error.message"]
    assert second["dlq.original.offset"] == "1"
    assert second["ce_id"] == wrong.id, "original headers travel with the dead letter"


async def test_missing_cloudevents_headers_are_dead_lettered(case, started, make_task):
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    key, value, headers = raw_record(make_task())
    stripped = [(k, v) for k, v in headers if k != "ce_tenantid"]
    await produce(case.bootstrap, case.topic, [(key, value, stripped)])
    await started(bus)
    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    h = headers_to_dict(letter.headers)
    assert h["dlq.error.class"] == "contracts.errors.EnvelopeError"
    assert "ce_tenantid" in h["dlq.error.message"]


async def test_unexpected_event_type_is_dead_lettered(case, started, make_task):
    bus = Bus(case.settings(), service="test")
    bus.consumer(case.topic, event_types=frozenset({"agentbus.task.completed.v1"}))(record_effect)
    await produce(case.bootstrap, case.topic, [raw_record(make_task())])
    await started(bus)
    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    h = headers_to_dict(letter.headers)
    assert h["dlq.error.class"] == "agentbus.bus.errors.UnexpectedEventTypeError"
