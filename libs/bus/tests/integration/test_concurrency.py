"""Key-ordered concurrency on the real broker: I/O overlaps across keys, never within one."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import pytest
from sqlmodel import col, select

from agentbus.bus import Bus, IoContext
from agentbus.bus.routes import DuplicateHandlerError
from agentbus.storage import UnitOfWork
from agentbus.testing import consume, create_topics, eventually, produce, raw_record, unique
from agentbus.testing.effects import Effect, count_effects
from agentbus.testing.io_consumer import SleepyEffect
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.integration
TASK = {"agentbus.task.submitted.v1"}


def keyed(run: str, task: str, tenant: str = "tenant-a") -> Envelope[TaskSubmitted]:
    """A task whose Kafka key is `run`, labelled `task`."""
    return new_envelope(
        sample(TaskSubmitted, task_id=task), source="t", tenant_id=tenant, run_id=run
    )


async def one_partition(bootstrap: str) -> str:
    topic = unique("conc")
    await create_topics(bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    return topic


async def effect_labels(bus: Bus) -> list[str]:
    async with bus.uow.sessions() as session:
        rows = await session.exec(select(Effect.label).order_by(col(Effect.id)))
        return list(rows.all())


async def test_300_keys_of_1s_io_on_one_partition_overlap(case, started):
    topic = await one_partition(case.bootstrap)
    handler = SleepyEffect(delay_s=1.0)
    bus = Bus(case.settings(max_in_flight=500), service="test")
    bus.io_consumer(topic, handler, event_types=TASK)
    await produce(
        case.bootstrap, topic, [raw_record(keyed(f"run-{i}", f"t-{i}")) for i in range(300)]
    )
    began = time.monotonic()
    await started(bus)

    async def all_done() -> bool:
        async with bus.uow.sessions() as session:
            return await count_effects(session) == 300

    await eventually(all_done, timeout_s=90, what="300 effects")
    print(f"300 x 1 s of I/O on one partition took {time.monotonic() - began:.1f} s")
    # Sequential handling would have at most one call in flight.
    assert handler.peak_in_flight >= 100
    assert sorted(await effect_labels(bus)) == sorted(f"t-{i}" for i in range(300))


class RandomDelay(SleepyEffect):
    """Each call sleeps a random few milliseconds, so unordered handling would show."""

    async def perform(self, label: str, ctx: IoContext) -> str:
        self.delay_s = random.uniform(0, 0.02)
        return await super().perform(label, ctx)


async def test_records_of_one_key_keep_their_order(case, started):
    topic = await one_partition(case.bootstrap)
    handler = RandomDelay()
    bus = Bus(case.settings(max_in_flight=200), service="test")
    bus.io_consumer(topic, handler, event_types=TASK)
    records = [raw_record(keyed(f"run-{k}", f"k{k}-{n:02d}")) for n in range(20) for k in range(50)]
    await produce(case.bootstrap, topic, records)
    await started(bus)

    async def all_done() -> bool:
        async with bus.uow.sessions() as session:
            return await count_effects(session) == 1000

    await eventually(all_done, timeout_s=90, what="1000 effects")
    by_key: dict[str, list[str]] = {}
    for label in await effect_labels(bus):
        by_key.setdefault(label.split("-")[0], []).append(label)
    assert len(by_key) == 50
    for key, labels in by_key.items():
        assert labels == sorted(labels), f"order broken for {key}"
    assert handler.peak_in_flight > 1, "keys ran concurrently"


class SlowThenPublish(SleepyEffect):
    """Records the effect and forwards the task downstream (through the outbox)."""

    downstream: str = ""

    async def record(self, envelope: Envelope[Any], label: str, uow: UnitOfWork) -> None:
        await super().record(envelope, label, uow)
        forwarded = keyed(f"fwd-{label}", label, tenant=envelope.tenantid)
        uow.publish(forwarded, topic=self.downstream)


async def test_a_5s_call_blocks_neither_the_relay_nor_other_records(case, started, caplog):
    caplog.set_level(logging.INFO)
    topic = await one_partition(case.bootstrap)
    downstream = unique("downstream")
    await create_topics(case.bootstrap, [downstream])
    handler = SlowThenPublish(delay_s=0.0, slow_label="slow", slow_delay_s=5.0)
    handler.downstream = downstream
    bus = Bus(case.settings(), service="test")
    bus.io_consumer(topic, handler, event_types=TASK)
    records = [raw_record(keyed("run-slow", "slow"))]
    records += [raw_record(keyed(f"run-{i}", f"fast-{i}")) for i in range(20)]
    await produce(case.bootstrap, topic, records)
    await started(bus)
    forwarded = await consume(case.bootstrap, downstream, count=20, timeout_s=30)
    assert handler.in_flight == 1, "the slow call is still running"
    assert {r.key for r in forwarded} == {f"fwd-fast-{i}".encode() for i in range(20)}

    async def slow_done() -> bool:
        return "slow" in await effect_labels(bus)

    await eventually(slow_done, timeout_s=30, what="the slow record")
    assert "database is locked" not in caplog.text


async def test_a_second_handler_for_a_topic_and_type_is_refused(case):
    bus = Bus(case.settings(), service="test")
    bus.io_consumer(case.topic, SleepyEffect(), event_types=TASK)
    with pytest.raises(DuplicateHandlerError, match="one handler per topic and event type"):
        bus.consumer(case.topic, event_types=TASK)(lambda envelope, uow: asyncio.sleep(0))
    with pytest.raises(ValueError, match="not in the topic catalogue"):
        bus.consumer(unique("uncatalogued"))(lambda envelope, uow: asyncio.sleep(0))
    await bus.engine.dispose()


async def test_a_handler_longer_than_max_poll_interval_keeps_the_group_membership(case, started):
    calls: list[str] = []

    async def slow(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        await asyncio.sleep(12)  # longer than max_poll_interval_ms below
        calls.append(envelope.id)

    settings = case.settings(max_poll_interval_ms=10_000, handler_timeout_s=30)
    bus = Bus(settings, service="test")
    bus.consumer(case.topic, event_types=TASK)(slow)
    first = keyed("r1", "t1")
    await produce(case.bootstrap, case.topic, [raw_record(first)])
    await started(bus)

    async def done() -> bool:
        return len(calls) == 1

    await eventually(done, timeout_s=60, what="the slow record")
    [loop] = bus.loops
    assert loop.revocations == 0, "the consumer was never dropped from its group"
    assert calls == [first.id], "handled once"


async def test_records_prefetched_during_a_slow_batch_are_not_dropped(case, started, caplog):
    # A batch of short handlers longer than a poll: aiokafka drops what it prefetched for a
    # partition that is polled while paused (to fetch it again), so the loop must not poll
    # paused partitions on every poll timeout while a batch runs.
    caplog.set_level(logging.DEBUG, logger="aiokafka.consumer.fetcher")
    calls: list[str] = []

    async def slowish(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        await asyncio.sleep(0.03)  # ten per batch: 300 ms, three poll timeouts
        calls.append(envelope.id)

    bus = Bus(case.settings(max_poll_records=10), service="test")
    bus.consumer(case.topic, event_types=TASK)(slowish)
    sent = [keyed(f"r{i}", f"t{i}") for i in range(40)]
    await produce(case.bootstrap, case.topic, [raw_record(e) for e in sent])
    await started(bus)

    async def done() -> bool:
        return len(calls) == 40

    await eventually(done, timeout_s=60, what="40 records")
    assert sorted(calls) == sorted(e.id for e in sent)
    assert "Not returning fetched records" not in caplog.text
