"""The consume loop against an in-memory consumer: commits, order, back-pressure, batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from sqlmodel import select

from agentbus.bus import BusSettings, IoContext, OutboundRecord, RetryPolicy, unit_factory
from agentbus.bus.consumer import ConsumerLoop
from agentbus.bus.failures import DeadLetterer
from agentbus.bus.offsets import PartitionOffsets
from agentbus.bus.processor import Processor, Route
from agentbus.bus.relay import OutboxRelay
from agentbus.storage import InboxEntry, UnitOfWork, UnitOfWorkFactory, create_engine
from agentbus.storage.migrations import upgrade
from agentbus.testing import eventually, raw_record
from agentbus.testing.effects import EFFECT_MIGRATIONS, effects_by_event, record_effect
from agentbus.testing.memory_consumer import MemoryConsumer
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

TYPE = TaskSubmitted.EVENT_TYPE
TP = TopicPartition("in", 0)


class Sink:
    def __init__(self) -> None:
        self.sent: list[OutboundRecord] = []

    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]:
        self.sent.extend(records)
        return [(0, len(self.sent) - len(records) + i) for i in range(len(records))]


def test_the_committable_offset_is_the_lowest_unsettled_one():
    offsets = PartitionOffsets()
    for offset in (10, 11, 12):
        offsets.started(offset)
    assert offsets.committable() == 10
    offsets.settled(12)
    offsets.settled(11)
    assert offsets.committable() == 10, "10 is still in flight"
    offsets.settled(10)
    assert offsets.committable() == 13
    assert offsets.in_flight == 0


@pytest.fixture
async def uow(sqlite_url: str) -> Any:
    engine = create_engine(sqlite_url)
    await upgrade(engine, [EFFECT_MIGRATIONS])
    yield unit_factory(engine)
    await engine.dispose()


def loop_for(
    uow: UnitOfWorkFactory, route: Route, consumer_box: list[MemoryConsumer], **kw: Any
) -> ConsumerLoop:
    sink = Sink()
    settings = BusSettings(commit_every=1, commit_interval_s=60, poll_timeout_ms=20, **kw)
    processor = Processor(
        topic="in",
        consumer_group="g",
        routes={TYPE: route},
        uow_factory=uow,
        relay=OutboxRelay(uow, sink, interval_s=1, grace_s=0, batch_size=100),
        dead_letters=DeadLetterer(sink, consumer_group="g", service="unit", reply_topic=None),
        retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.001, jitter_s=0),
    )

    def factory(listener: Any) -> MemoryConsumer:
        consumer = MemoryConsumer("in", listener=listener)
        consumer_box.append(consumer)
        return consumer

    return ConsumerLoop({"in": processor}, settings, factory)


def task(key: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    envelope = new_envelope(sample(TaskSubmitted), source="unit", tenant_id="t", run_id=key)
    return raw_record(envelope)


class Gate:
    """IoHandler whose calls wait until released, per key."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}
        self.done: list[str] = []

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> str:
        return envelope.runid or ""

    async def perform(self, key: str, ctx: IoContext) -> str:
        await self.release.setdefault(key, asyncio.Event()).wait()
        return key

    async def record(self, envelope: Envelope[Any], key: str, uow: UnitOfWork) -> None:
        self.done.append(key)
        await record_effect(envelope, uow)


async def test_commits_stop_at_a_record_in_flight_while_later_ones_finish(uow):
    gate, box = Gate(), []
    loop = loop_for(uow, Route(TYPE, io=gate), box)
    await loop.start()
    consumer = box[0]
    for key in ("slow", "a", "b"):
        consumer.append(0, *task(key))
    for key in ("a", "b"):
        gate.release.setdefault(key, asyncio.Event()).set()

    async def later_done() -> bool:
        return gate.done == ["a", "b"]

    await eventually(later_done, what="the later records")
    await loop.commit()
    assert consumer.committed(0) == 0, "never past the slow record"
    gate.release.setdefault("slow", asyncio.Event()).set()

    async def all_committed() -> bool:
        await loop.commit()
        return consumer.committed(0) == 3

    await eventually(all_committed, what="the commit past all three")
    await loop.stop()


async def test_a_full_loop_pauses_fetching_and_resumes_when_work_finishes(uow):
    gate, box = Gate(), []
    loop = loop_for(uow, Route(TYPE, io=gate), box, max_in_flight=2)
    await loop.start()
    consumer = box[0]
    for key in ("a", "b", "c", "d"):
        consumer.append(0, *task(key))

    async def full() -> bool:
        return loop.scheduler.admitted == 2 and TP in consumer.paused()

    await eventually(full, what="two in flight and the partition paused")
    assert consumer.positions[TP] == 2, "nothing fetched beyond capacity"
    for key in ("a", "b", "c", "d"):
        gate.release.setdefault(key, asyncio.Event()).set()

    async def all_done() -> bool:
        return sorted(gate.done) == ["a", "b", "c", "d"]

    await eventually(all_done, what="all four")
    await loop.stop()


async def test_a_batch_of_short_handlers_applies_each_once_and_dead_letters_poison(uow):
    box: list[MemoryConsumer] = []
    loop = loop_for(uow, Route(TYPE, short=record_effect), box)
    await loop.start()
    consumer = box[0]
    key, value, headers = task("k")
    for body in (value, value, b"not json"):
        consumer.append(0, key, body, headers)

    async def settled() -> bool:
        await loop.commit()
        return consumer.committed(0) == 3

    await eventually(settled, what="three records settled")
    await loop.stop()
    async with uow.sessions() as session:
        assert list((await effects_by_event(session)).values()) == [1]
    [letter] = loop.processors["in"].dead_letters.sink.sent  # type: ignore[attr-defined]
    assert dict(letter.headers)["dlq.error.class"] == b"contracts.errors.MessageParseError"


async def test_an_ignored_event_type_is_settled_without_a_transaction(uow):
    box: list[MemoryConsumer] = []
    loop = loop_for(uow, Route(TYPE), box)  # accepted, no handler: bus.ignore
    await loop.start()
    consumer = box[0]
    key, value, headers = task("k")
    for body in (value, b"not even json"):  # an ignored type is not decoded at all
        consumer.append(0, key, body, headers)

    async def settled() -> bool:
        await loop.commit()
        return consumer.committed(0) == 2

    await eventually(settled, what="both records settled")
    await loop.stop()
    async with uow.sessions() as session:
        assert await effects_by_event(session) == {}
        assert (await session.exec(select(InboxEntry))).all() == [], "no inbox row"
    assert loop.processors["in"].dead_letters.sink.sent == []  # type: ignore[attr-defined]
