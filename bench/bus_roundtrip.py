"""Raw aiokafka versus the agentbus bus runtime, on the same broker, in one run.

Three pipelines, each measured for latency (one record at a time) and throughput (a burst):
  raw-hop      producer -> topic -> consumer                       (the floor)
  raw-forward  producer -> topic -> consume, produce, commit -> topic -> consumer
  bus-forward  producer -> topic -> Bus (inbox + handler + outbox on SQLite) -> topic -> consumer
bus-forward does the same two hops as raw-forward, plus the durable bookkeeping.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agentbus.bus import Bus, BusSettings
from agentbus.http import run_async
from agentbus.storage import UnitOfWork
from agentbus.testing import create_topics
from agentbus.testing.kafka import delete_created_topics
from contracts.envelope import Envelope, encode, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

Sender = Callable[[int], Awaitable[None]]


def envelope(task_id: str) -> Envelope[TaskSubmitted]:
    return new_envelope(sample(TaskSubmitted, task_id=task_id), source="bench", tenant_id="t1")


class Sink:
    """Counts records arriving on the output topic and timestamps them by task id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self.arrived: dict[str, float] = {}
        self.event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for record in self.consumer:
            self.arrived[record.key.decode()] = time.perf_counter()
            self.event.set()

    async def wait_for(self, ids: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ids <= self.arrived.keys():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids - self.arrived.keys())} records never arrived")
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout=1.0)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()


async def measure(
    name: str, bootstrap: str, source: str, out: str, latency_n: int, burst_n: int, limit_s: float
) -> dict[str, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    sink = Sink(bootstrap, out)
    await producer.start()
    await sink.start()
    try:

        async def send(i: int) -> str:
            bench_id = f"{name}-{i}"  # the task id, hence the Kafka key on every hop
            record = encode(envelope(bench_id))
            await producer.send(source, record.value, key=record.key, headers=list(record.headers))
            return bench_id

        warm = {await send(-1)}
        await sink.wait_for(warm, limit_s)
        latencies = []
        for i in range(latency_n):
            started = time.perf_counter()
            bench_id = await send(i)
            await sink.wait_for({bench_id}, limit_s)
            latencies.append((sink.arrived[bench_id] - started) * 1000)
        started = time.perf_counter()
        ids = {await send(latency_n + i) for i in range(burst_n)}
        await sink.wait_for(ids, limit_s)
        elapsed = max(sink.arrived[i] for i in ids) - started
    finally:
        await sink.stop()
        await producer.stop()
    latencies.sort()
    return {
        "pipeline": name,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "throughput_per_s": burst_n / elapsed,
    }


async def raw_forwarder(
    bootstrap: str, source: str, out: str, group: str
) -> Callable[[], Awaitable[None]]:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()

    async def run() -> None:
        async for record in consumer:
            await producer.send_and_wait(
                out, record.value, key=record.key, headers=list(record.headers)
            )
            await consumer.commit()

    task = asyncio.create_task(run())

    async def stop() -> None:
        task.cancel()
        await consumer.stop()
        await producer.stop()

    return stop


async def bus_forwarder(
    bootstrap: str, source: str, out: str, group: str, db: Path
) -> Callable[[], Awaitable[None]]:
    bus = Bus(
        BusSettings(
            bootstrap_servers=bootstrap,
            consumer_group=group,
            client_id=group,
            database_url=f"sqlite:///{db}",
        ),
        service="bench",
    )

    @bus.consumer(source, event_types={"agentbus.task.submitted.v1"})
    async def forward(env: Envelope[Any], uow: UnitOfWork) -> None:
        uow.publish(env.model_copy(update={"id": str(uuid.uuid4())}), topic=out)

    await bus.start()
    return bus.stop


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--latency-n", type=int, default=300)
    parser.add_argument("--burst-n", type=int, default=3000)
    parser.add_argument("--limit-s", type=float, default=120.0)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    names = {k: f"bench-{k}-{run}" for k in ("a", "a-out", "b", "b-out", "c", "c-out")}
    await create_topics(args.bootstrap, names.values())
    results = []
    sizes = (args.latency_n, args.burst_n, args.limit_s)
    results.append(await measure("raw-hop", args.bootstrap, names["a"], names["a"], *sizes))
    stop = await raw_forwarder(args.bootstrap, names["b"], names["b-out"], f"bench-raw-{run}")
    try:
        results.append(
            await measure("raw-forward", args.bootstrap, names["b"], names["b-out"], *sizes)
        )
    finally:
        await stop()
    with tempfile.TemporaryDirectory() as tmp:
        stop = await bus_forwarder(
            args.bootstrap, names["c"], names["c-out"], f"bench-bus-{run}", Path(tmp) / "bus.db"
        )
        try:
            results.append(
                await measure("bus-forward", args.bootstrap, names["c"], names["c-out"], *sizes)
            )
        finally:
            await stop()
    print(f"latency: {args.latency_n} sequential records; throughput: a burst of {args.burst_n}")
    print(f"{'pipeline':<12} {'p50 ms':>8} {'p99 ms':>8} {'records/s':>10}")
    for r in results:
        p50, p99, rate = r["p50_ms"], r["p99_ms"], r["throughput_per_s"]
        print(f"{r['pipeline']:<12} {p50:>8.2f} {p99:>8.2f} {rate:>10.0f}")
    raw, fwd, bus = results
    print(
        f"bus-forward / raw-forward: p50 x{bus['p50_ms'] / fwd['p50_ms']:.2f}, "
        f"throughput x{bus['throughput_per_s'] / fwd['throughput_per_s']:.2f}"
    )
    print(
        f"bus-forward / raw-hop:     p50 x{bus['p50_ms'] / raw['p50_ms']:.2f}, "
        f"throughput x{bus['throughput_per_s'] / raw['throughput_per_s']:.2f}"
    )
    await delete_created_topics(args.bootstrap)


if __name__ == "__main__":
    run_async(main())
