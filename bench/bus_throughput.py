"""Throughput of one bus consumer process beside a raw aiokafka hop, on the same broker.

Each case pre-fills a fresh topic, starts one consumer, and times until every record is
settled (the handler's row is committed with its inbox entry):
  raw-hop        aiokafka consumer reading the same records (the floor)
  bus-sqlite     Bus, zero-latency short handler (the inbox entry is the only write), SQLite
  bus-sqlite+row the same handler adding one SQLModel row (what most handlers do)
  bus-postgres   the zero-latency handler on PostgreSQL (when --postgres-url is given)
  bus-io-1s      Bus, an I/O handler that waits 1 s per record (SQLite), max_in_flight 500
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from agentbus.bus import Bus, BusSettings
from agentbus.http import run_async
from agentbus.storage import UnitOfWork
from agentbus.testing import create_topics, produce, raw_record
from agentbus.testing.effects import EFFECT_MIGRATIONS, record_effect
from agentbus.testing.io_consumer import SleepyEffect
from agentbus.testing.kafka import delete_created_topics
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

TASK = {"agentbus.task.submitted.v1"}


async def fill(bootstrap: str, n: int, keys: int, partitions: int) -> str:
    topic = f"bench-tp-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic, f"{topic}.dlq"], partitions=partitions)
    records = [
        raw_record(
            new_envelope(
                sample(TaskSubmitted, task_id=f"t-{i}"),
                source="bench",
                tenant_id="t1",
                run_id=f"run-{i % keys}",
            )
        )
        for i in range(n)
    ]
    for start in range(0, n, 5000):
        await produce(bootstrap, topic, records[start : start + 5000])
    return topic


async def raw_hop(bootstrap: str, topic: str, n: int, limit_s: float) -> float:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        seen, started = 0, time.perf_counter()
        while seen < n and time.perf_counter() - started < limit_s:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            seen += sum(len(records) for records in batch.values())
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


class Counter:
    """Wraps a handler; notes when the n-th record has been settled."""

    def __init__(self, n: int) -> None:
        self.n, self.count, self.done = n, 0, asyncio.Event()

    def tick(self) -> None:
        self.count += 1
        if self.count >= self.n:
            self.done.set()


async def bus_case(
    bootstrap: str,
    topic: str,
    url: str,
    n: int,
    limit_s: float,
    *,
    io_delay_s: float | None,
    write_row: bool = False,
) -> float:
    group = f"bench-{uuid.uuid4().hex[:8]}"
    settings = BusSettings(
        bootstrap_servers=bootstrap, consumer_group=group, client_id=group, database_url=url
    )
    bus = Bus(settings, service="bench", migrations=[EFFECT_MIGRATIONS])
    counter = Counter(n)
    if io_delay_s is None:

        @bus.consumer(topic, event_types=TASK)
        async def handle(envelope: Envelope[Any], uow: UnitOfWork) -> None:
            if write_row:
                await record_effect(envelope, uow)  # one ORM row, as a typical handler writes
            counter.tick()  # counted before commit: the loop settles right after

    else:

        class Counted(SleepyEffect):
            async def record(self, envelope: Envelope[Any], label: str, uow: UnitOfWork) -> None:
                await super().record(envelope, label, uow)
                counter.tick()

        bus.io_consumer(topic, Counted(delay_s=io_delay_s), event_types=TASK)
    await bus.start()
    try:
        # Timed from the partition assignment: joining the group is start-up, not throughput.
        await bus.wait_until_assigned()
        started = time.perf_counter()
        await asyncio.wait_for(counter.done.wait(), limit_s)
        return n / (time.perf_counter() - started)
    finally:
        await bus.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--postgres-url")
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--io-n", type=int, default=3_000)
    parser.add_argument("--limit-s", type=float, default=180.0)
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    topic = await fill(args.bootstrap, args.n, keys=1000, partitions=6)
    rows.append(("raw-hop", await raw_hop(args.bootstrap, topic, args.n, args.limit_s)))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        rate = await bus_case(args.bootstrap, topic, url, args.n, args.limit_s, io_delay_s=None)
        rows.append(("bus-sqlite", rate))
        rate = await bus_case(
            args.bootstrap, topic, url, args.n, args.limit_s, io_delay_s=None, write_row=True
        )
        rows.append(("bus-sqlite+row", rate))
        if args.postgres_url:
            rate = await bus_case(
                args.bootstrap, topic, args.postgres_url, args.n, args.limit_s, io_delay_s=None
            )
            rows.append(("bus-postgres", rate))
        io_topic = await fill(args.bootstrap, args.io_n, keys=args.io_n, partitions=6)
        url = f"sqlite:///{Path(tmp) / 'io.db'}"
        rate = await bus_case(
            args.bootstrap, io_topic, url, args.io_n, args.limit_s, io_delay_s=1.0
        )
        rows.append(("bus-io-1s", rate))
    print(f"one consumer process; {args.n} records (io case: {args.io_n} records of 1 s each)")
    print(f"{'case':<14} {'records/s':>10} {'vs raw-hop':>11}")
    raw = rows[0][1]
    for name, rate in rows:
        print(f"{name:<14} {rate:>10.0f} {rate / raw:>10.3f}x")
    await delete_created_topics(args.bootstrap)


if __name__ == "__main__":
    run_async(main())
