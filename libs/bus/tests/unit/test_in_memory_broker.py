"""The same bus wiring on FastStream's in-memory TestKafkaBroker: fast feedback for handlers."""

from __future__ import annotations

from pathlib import Path

from faststream.kafka import KafkaMessage, TestKafkaBroker

from agentbus.bus import Bus, BusSettings
from agentbus.storage import create_tables
from agentbus.testing import raw_record
from agentbus.testing.effects import effects_by_event, record_effect
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample


async def test_duplicates_apply_once_and_poison_is_dead_lettered(tmp_path: Path):
    bus = Bus(BusSettings(database_url=f"sqlite:///{tmp_path / 'bus.db'}"), service="unit")
    bus.consumer("tasks.submitted")(record_effect)
    dead: list[dict[str, str]] = []

    async def raw_body(message: KafkaMessage) -> bytes:
        return message.body  # a dead letter's body is whatever the poison was

    @bus.broker.subscriber("tasks.submitted.dlq", decoder=raw_body)
    async def capture(message: KafkaMessage) -> None:
        dead.append(dict(message.headers))

    await create_tables(bus.engine)
    envelope = new_envelope(sample(TaskSubmitted), source="unit", tenant_id="acme")
    key, value, headers = raw_record(envelope)
    text_headers = {k: v.decode() for k, v in headers}
    async with TestKafkaBroker(bus.broker) as broker:
        for body in (value, value, b"not json"):
            await broker.publish(body, "tasks.submitted", key=key, headers=text_headers)
    async with bus.uow.sessions() as session:
        assert await effects_by_event(session) == {envelope.id: 1}
    [letter] = dead
    assert letter["dlq.error.class"] == "contracts.errors.MessageParseError"
    await bus.engine.dispose()
