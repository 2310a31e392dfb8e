"""Durable timers in real processes: SIGKILLed and restarted, or two replicas on one database.

Every timer fires exactly once and never early; cancelled timers never fire. Deliveries are
counted with a raw aiokafka consumer, so what is asserted is what reached the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from sqlalchemy import func
from sqlmodel import col, select

from agentbus.bus import unit_factory
from agentbus.storage import OutboxEntry, TimerEntry, create_engine
from agentbus.storage.migrations import upgrade
from agentbus.testing import create_topics, eventually, unique
from agentbus.testing.processes import exit_reason, logged, sigkill, start_module, terminate
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.e2e

TIMERS = 200
CANCELLED = 20


@dataclass
class Deliveries:
    """Every record that reaches `topic`, read from the start by a group-less consumer."""

    bootstrap: str
    topic: str
    records: list[ConsumerRecord[Any, Any]] = field(default_factory=list)

    def ids(self) -> list[str]:
        return [dict(r.headers)["ce_id"].decode() for r in self.records]

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            while True:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    self.records.extend(batch)
        finally:
            await consumer.stop()


@contextlib.asynccontextmanager
async def deliveries(bootstrap: str, topic: str) -> AsyncIterator[Deliveries]:
    seen = Deliveries(bootstrap, topic)
    task = asyncio.create_task(seen.run())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def schedule_timers(
    database_url: str, topic: str, *, first_s: float, last_s: float
) -> tuple[dict[str, datetime], set[str]]:
    """TIMERS + CANCELLED timers due over [now+first_s, now+last_s]: (due by id, cancelled)."""
    engine = create_engine(database_url)
    await upgrade(engine)
    uow = unit_factory(engine)
    total = TIMERS + CANCELLED
    start = datetime.now(UTC)
    due: dict[str, datetime] = {}
    cancelled: set[str] = set()
    try:
        for tenant in ("acme", "globex"):
            async with uow(tenant) as unit:
                for i in range(total // 2):
                    n = len(due) + len(cancelled)
                    at = start + timedelta(seconds=first_s + (last_s - first_s) * n / total)
                    envelope = new_envelope(
                        sample(TaskSubmitted, task_id=f"task-{n}"), source="tests", tenant_id=tenant
                    )
                    if i % 11 == 10:
                        # Due mid-way: well after its cancellation commits, well before the end.
                        at = start + timedelta(seconds=(first_s + last_s) / 2)
                        cancelled.add(envelope.id)
                    else:
                        due[envelope.id] = at
                    unit.schedule(envelope, at=at, timer_id=f"timer-{i}", topic=topic)
                await unit.commit()
            async with uow(tenant) as unit:  # cancelled later, in their own transaction
                for i in range(10, total // 2, 11):
                    assert await unit.cancel_timer(f"timer-{i}")
                await unit.commit()
    finally:
        await engine.dispose()
    assert (len(due), len(cancelled)) == (TIMERS, CANCELLED)
    return due, cancelled


async def fired_in_database(database_url: str) -> tuple[int, int]:
    """(timers marked fired, outbox rows): both must equal TIMERS."""
    engine = create_engine(database_url)
    uow = unit_factory(engine)
    try:
        async with uow.sessions() as session:
            query = select(func.count()).where(col(TimerEntry.fired_at).is_not(None))
            fired = (await session.exec(query)).one()
            rows = (await session.exec(select(func.count()).select_from(OutboxEntry))).one()
    finally:
        await engine.dispose()
    return int(fired), int(rows)


def assert_fired_once_never_early(
    seen: Deliveries, due: dict[str, datetime], cancelled: set[str]
) -> Counter[str]:
    """Each due timer delivered, none early, no cancelled one; returns delivery counts."""
    counts = Counter(seen.ids())
    assert set(counts) == set(due), "exactly the due timers, none cancelled"
    assert not set(counts) & cancelled
    lateness_ms = []
    for record in seen.records:
        event_id = dict(record.headers)["ce_id"].decode()
        # Kafka timestamps are whole milliseconds: compare against the due time's millisecond.
        due_ms = int(due[event_id].timestamp() * 1000)
        assert record.timestamp >= due_ms, f"{event_id} early"
        lateness_ms.append(record.timestamp - due_ms)
    lateness_ms.sort()
    p50, p99 = lateness_ms[len(lateness_ms) // 2], lateness_ms[int(len(lateness_ms) * 0.99)]
    print(f"lateness_ms p50={p50} p99={p99} max={lateness_ms[-1]}")
    return counts


async def timer_service(bootstrap: str, database_url: str, log: Path):
    """A running timer service process, once it has migrated and started its poller."""
    args = ["--bootstrap", bootstrap, "--group", unique("timers"), "--database-url", database_url]
    process = start_module("agentbus.testing.timer_service", args, log=log)

    async def ready() -> bool:
        assert exit_reason(process, log) is None, exit_reason(process, log)
        return logged(log, "started successfully") > 0

    await eventually(ready, timeout_s=60, what=f"{log.name} started")
    return process


async def quiet_period(seconds: float) -> None:
    """An observation window, not a synchronisation: late duplicates or cancelled timers
    would arrive in it (several poll and relay intervals), and the assertions catch them."""
    await asyncio.sleep(seconds)


async def test_sigkill_mid_firing_then_restart_fires_each_timer_once(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
):
    topic, log = unique("timers"), tmp_path / "first.log"
    await create_topics(kafka_bootstrap, [topic])
    async with deliveries(kafka_bootstrap, topic) as seen:
        process = await timer_service(kafka_bootstrap, database_url, log)
        try:
            # Scheduled while the service runs, as a handler would, due over the next seconds.
            due, cancelled = await schedule_timers(database_url, topic, first_s=1, last_s=6)

            async def some_fired() -> bool:
                assert exit_reason(process, log) is None, exit_reason(process, log)
                return len(set(seen.ids())) >= TIMERS // 3

            await eventually(some_fired, timeout_s=30, what="a third fired before the kill")
        finally:
            sigkill(process)
        assert len(set(seen.ids())) < TIMERS, "killed mid-firing, not after the end"

        log = tmp_path / "restarted.log"
        process = await timer_service(kafka_bootstrap, database_url, log)
        try:

            async def all_fired() -> bool:
                assert exit_reason(process, log) is None, exit_reason(process, log)
                return len(set(seen.ids())) >= TIMERS

            await eventually(all_fired, timeout_s=40, what="every timer fired after restart")
            await quiet_period(2.0)
        finally:
            returncode = terminate(process)
    counts = assert_fired_once_never_early(seen, due, cancelled)
    resent = sum(n - 1 for n in counts.values())
    print(f"delivered={len(seen.records)} distinct={len(counts)} relay_resends={resent}")
    assert await fired_in_database(database_url) == (TIMERS, TIMERS), "each timer fired once"
    # The only allowed repeat is the relay re-sending a row whose publish the kill cut
    # short: at most one relay batch, the same record (consumers' inboxes drop it).
    assert resent <= 25, counts.most_common(3)
    assert returncode == 0, "the restarted service shut down cleanly"


async def test_two_replicas_on_one_database_fire_each_timer_once(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
):
    topic = unique("timers")
    await create_topics(kafka_bootstrap, [topic])
    logs = [tmp_path / "replica-a.log", tmp_path / "replica-b.log"]
    async with deliveries(kafka_bootstrap, topic) as seen:
        replicas = []
        try:
            for log in logs:
                replicas.append(await timer_service(kafka_bootstrap, database_url, log))
            due, cancelled = await schedule_timers(database_url, topic, first_s=1, last_s=4)

            async def all_fired() -> bool:
                for process, log in zip(replicas, logs, strict=True):
                    assert exit_reason(process, log) is None, exit_reason(process, log)
                return len(set(seen.ids())) >= TIMERS

            await eventually(all_fired, timeout_s=40, what="every timer fired")
            await quiet_period(2.0)
        finally:
            codes = [terminate(p) for p in replicas]
    counts = assert_fired_once_never_early(seen, due, cancelled)
    shares = [logged(log, '"timers fired"') for log in logs]  # batches per replica
    print(f"delivered={len(seen.records)} distinct={len(counts)} firing_batches={shares}")
    assert len(seen.records) == TIMERS, "no duplicates reached the topic"
    assert await fired_in_database(database_url) == (TIMERS, TIMERS)
    assert codes == [0, 0]
