"""The processor with a fake sink at the Kafka port and a real SQLite file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlmodel import select

from agentbus.bus import (
    InboundRecord,
    OutboundRecord,
    Outcome,
    Processor,
    RetryPolicy,
    unit_factory,
)
from agentbus.bus.errors import PermanentError, TransientError
from agentbus.bus.failures import DeadLetterer
from agentbus.bus.processor import Route
from agentbus.bus.relay import OutboxRelay
from agentbus.storage import (
    OutboxEntry,
    UnitOfWork,
    UnitOfWorkFactory,
    create_engine,
)
from agentbus.storage.migrations import upgrade
from agentbus.testing import raw_record
from agentbus.testing.effects import EFFECT_MIGRATIONS, effects_by_event, record_effect
from agentbus.testing.metrics import values_by
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

TYPE = TaskSubmitted.EVENT_TYPE
RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.01, jitter_s=0)


class FakeSink:
    """Remembers what was sent; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[OutboundRecord] = []
        self.failing = False

    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]:
        if self.failing:
            raise ConnectionError("broker unreachable")
        start = len(self.sent)
        self.sent.extend(records)
        return [(0, start + i) for i in range(len(records))]


@pytest.fixture
async def uow(sqlite_url: str) -> Any:
    engine = create_engine(sqlite_url)
    await upgrade(engine, [EFFECT_MIGRATIONS])
    yield unit_factory(engine)
    await engine.dispose()


def processor(
    uow: UnitOfWorkFactory,
    sink: FakeSink,
    handler: Any = record_effect,
    timeout_s: float = 5,
    meter: Meter | None = None,
) -> Processor:
    relay = OutboxRelay(uow, sink, interval_s=1, grace_s=0, batch_size=100)
    return Processor(
        topic="in",
        consumer_group="g",
        routes={TYPE: Route(TYPE, short=handler)},
        uow_factory=uow,
        relay=relay,
        dead_letters=DeadLetterer(sink, consumer_group="g", service="unit", reply_topic=None),
        retry=RETRY,
        handler_timeout_s=timeout_s,
        meter=meter,
    )


def record(envelope: Envelope[Any] | None = None, *, value: bytes | None = None) -> InboundRecord:
    key, encoded, headers = raw_record(envelope or task())
    return InboundRecord("in", 0, 7, key, encoded if value is None else value, headers)


def task() -> Envelope[TaskSubmitted]:
    return new_envelope(sample(TaskSubmitted), source="unit", tenant_id="t")


async def test_handles_once_then_skips_the_duplicate(uow):
    sink, same = FakeSink(), record()
    p = processor(uow, sink)
    assert await p.process(same) is Outcome.HANDLED
    assert await p.process(same) is Outcome.DUPLICATE
    async with uow.sessions() as session:
        assert list((await effects_by_event(session)).values()) == [1]


async def test_a_batch_is_settled_and_counted_by_outcome(uow):
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("unit")
    p = processor(uow, FakeSink(), meter=meter)
    envelopes = [task() for _ in range(5)]
    batch = [
        InboundRecord("in", 0, offset, *raw_record(envelope))
        for offset, envelope in enumerate([*envelopes, envelopes[2]])
    ]
    outcomes = await p.process_batch(batch)
    assert outcomes == [Outcome.HANDLED] * 5 + [Outcome.DUPLICATE]
    counted = values_by(reader, "agentbus.bus.records", "outcome")
    assert counted == {"handled": 5, "duplicate": 1}


async def test_poison_is_dead_lettered_with_its_cause(uow):
    sink = FakeSink()
    assert await processor(uow, sink).process(record(value=b"oops")) is Outcome.DEAD_LETTERED
    [letter] = sink.sent
    headers = dict(letter.headers)
    assert letter.topic == "in.dlq"
    assert letter.value == b"oops"
    assert headers["dlq.original.offset"] == b"7"
    assert headers["dlq.error.class"] == b"contracts.errors.MessageParseError"


async def test_transient_errors_retry_permanent_ones_do_not(uow):
    calls: list[str] = []

    async def flaky(envelope: Envelope[Any], unit: UnitOfWork) -> None:
        calls.append(envelope.id)
        if len(calls) < 3:
            raise TransientError("try again")

    sink = FakeSink()
    assert await processor(uow, sink, flaky).process(record()) is Outcome.HANDLED
    assert len(calls) == 3

    async def refuse(envelope: Envelope[Any], unit: UnitOfWork) -> None:
        calls.append("refused")
        raise PermanentError("no")

    calls.clear()
    assert await processor(uow, sink, refuse).process(record()) is Outcome.DEAD_LETTERED
    assert calls == ["refused"]


async def test_an_unwritable_dead_letter_raises_so_the_offset_is_not_committed(uow):
    sink = FakeSink()
    sink.failing = True
    with pytest.raises(ConnectionError):
        await processor(uow, sink).process(record(value=b"oops"))


async def test_outbox_rows_survive_a_failed_publish_and_the_sweep_sends_them(uow):
    async def emit(envelope: Envelope[Any], unit: UnitOfWork) -> None:
        unit.publish(task(), topic="out")

    sink = FakeSink()
    sink.failing = True
    p = processor(uow, sink, emit)
    assert await p.process(record()) is Outcome.HANDLED, "the state is durable; relay later"
    async with uow.sessions() as session:
        [row] = (await session.exec(select(OutboxEntry))).all()
        assert row.published_at is None
    sink.failing = False
    assert await p.relay.sweep() == 1
    assert [r.topic for r in sink.sent] == ["out"]
    assert await p.relay.sweep() == 0


async def test_pruning_keeps_recent_and_unpublished_rows(uow):
    from datetime import UTC, datetime, timedelta

    from agentbus.storage import InboxEntry, prune

    async def emit(envelope: Envelope[Any], unit: UnitOfWork) -> None:
        unit.publish(task(), topic="out")

    sink = FakeSink()
    sink.failing = True  # the event stays unpublished
    p = processor(uow, sink, emit)
    await p.process(record())
    future = datetime.now(UTC) + timedelta(days=1)
    async with uow.sessions() as session:
        assert await prune(session, handled_before=datetime.now(UTC) - timedelta(days=1)) == (
            0,
            0,
            0,
        )
        assert await prune(session, handled_before=future) == (1, 0, 0)
        assert (await session.exec(select(InboxEntry))).all() == []
        [left] = (await session.exec(select(OutboxEntry))).all()
        assert left.published_at is None, "an unpublished event is never pruned"
    sink.failing = False
    await p.relay.publish_committed([left.id or 0])
    async with uow.sessions() as session:
        assert await prune(session, handled_before=future) == (0, 1, 0), "once published, it goes"


async def test_a_hung_handler_times_out_rolls_back_and_dead_letters(uow):
    import asyncio

    async def hang(envelope: Envelope[Any], unit: UnitOfWork) -> None:
        await record_effect(envelope, unit)
        await asyncio.sleep(3600)

    sink = FakeSink()
    assert await processor(uow, sink, hang, timeout_s=0.05).process(record()) is (
        Outcome.DEAD_LETTERED
    )
    [letter] = sink.sent
    headers = dict(letter.headers)
    assert headers["dlq.error.class"] == b"builtins.TimeoutError"
    assert headers["dlq.attempts"] == b"3", "a timeout is transient: retried first"
    async with uow.sessions() as session:
        assert await effects_by_event(session) == {}, "the timed-out attempts rolled back"
