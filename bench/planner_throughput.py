"""Runs/s and run latency of one planner process, beside the raw aiokafka hop, in one run.

  raw-hop   producer -> topic -> consumer: records/s and per-record latency (the floor)
  planner   task.submitted -> one `planner` process (SQLite, outbox, timers) -> a 5-step
            workflow (fetch, two parallel steps, a join, a record step) answered by an
            instant tool responder -> task.completed: runs/s and per-run latency

Every run takes 11 Kafka hops (1 task, 5 requests, 5 replies) plus the completion.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from planner.app import MIGRATIONS
from planner.lifecycle import DefinitionService
from planner.runner import Topics
from planner.versions import Action
from proc import StealMeter, local_broker_pid, process_cpu_s

from agentbus.bus import unit_factory
from agentbus.http import run_async
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade
from agentbus.testing import create_topics
from agentbus.testing.kafka import delete_created_topics
from contracts.envelope import decode, encode, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.events.tool import ToolCompleted, ToolStatus
from contracts.types import Actor, ActorKind

FIVE_STEPS = """
name: bench-five
version: 1.0.0
steps:
  - {id: fetch, type: tool, tool: fetch, inputs: {n: input.n}}
  - {id: left, type: tool, tool: left, depends_on: [fetch], inputs: {v: steps.fetch.output}}
  - {id: right, type: tool, tool: right, depends_on: [fetch], inputs: {v: steps.fetch.output}}
  - id: join
    type: tool
    tool: join
    depends_on: [left, right]
    inputs: {a: steps.left.output, b: steps.right.output}
  - {id: record, type: tool, tool: record, depends_on: [join], inputs: {v: steps.join.output}}
"""
TOPICS = [
    "tasks.submitted",
    "tasks.completed",
    "tasks.failed",
    "runs.events",
    "runs.timers",
    "tool.requests",
    "tool.results",
    "model.requests",
    "model.responses",
    "guardrail.requests",
    "guardrail.verdicts",
    "approval.requests",
    "approval.decisions",
    "audit.log",
    "workflows.events",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, count: int, seconds: float, latencies: list[float], unit: str) -> str:
    p50, p99 = 1000 * statistics.median(latencies), 1000 * percentile(latencies, 0.99)
    return (
        f"{name:<10} {count / seconds:>9.1f} {unit}/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms"
        f"   ({count} in {seconds:.2f} s)"
    )


async def raw_hop(bootstrap: str, count: int) -> str:
    """Produce `count` records and consume them: throughput and per-record latency."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic], partitions=6)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await consumer.start()
    await producer.start()
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    try:
        start = time.perf_counter()
        for i in range(count):
            key = str(i).encode()
            sent[key] = time.perf_counter()
            await producer.send(topic, b"{}", key=key)
        await producer.flush()
        while len(latencies) < count:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.perf_counter()
            for records in batches.values():
                latencies.extend(now - sent[r.key] for r in records)
        elapsed = time.perf_counter() - start
    finally:
        await consumer.stop()
        await producer.stop()
    return line("raw-hop", count, elapsed, latencies, "records")


async def seed(database_url: str, prefix: str) -> None:
    """Create, review and publish the bench workflow in the planner's database."""
    engine = create_engine(database_url)
    await upgrade(engine, [MIGRATIONS])
    uow = unit_factory(engine)
    service = DefinitionService(Topics(prefix))
    alice, bob = Actor(kind=ActorKind.USER, id="alice"), Actor(kind=ActorKind.USER, id="bob")
    async with uow("bench") as u:
        await service.create_draft(u, FIVE_STEPS, alice)
        for action, actor in ((Action.SUBMIT, alice), (Action.APPROVE, bob), (Action.PUBLISH, bob)):
            await service.transition(u, "bench-five", "1.0.0", action, actor)
        await u.commit()
    await engine.dispose()


async def responder(bootstrap: str, prefix: str, stop: asyncio.Event) -> None:
    """Answer every tool request at once (batched reads, pipelined sends)."""
    consumer = AIOKafkaConsumer(
        f"{prefix}tool.requests",
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}responder",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                for r in records:
                    request = decode(r.headers, r.value)
                    data: Any = request.data
                    reply = ToolCompleted(
                        step=data.step,
                        request_id=request.id,
                        tool=data.tool,
                        status=ToolStatus.SUCCEEDED,
                        result=1,
                        duration_ms=0,
                    )
                    out = encode(
                        new_envelope(
                            reply, source="bench", tenant_id=request.tenantid, run_id=request.runid
                        )
                    )
                    await producer.send(
                        f"{prefix}tool.results", out.value, key=out.key, headers=list(out.headers)
                    )
    finally:
        await consumer.stop()
        await producer.stop()


async def planner_runs(
    bootstrap: str,
    count: int,
    warmup: int,
    workdir: Path,
    database_url: str | None,
    single: int = 20,
) -> str:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    names = [prefix + t for t in TOPICS]
    await create_topics(bootstrap, names + [n + ".dlq" for n in names], partitions=6)
    database_url = database_url or f"sqlite:///{workdir / 'planner.db'}"
    await seed(database_url, prefix)
    env = {
        **os.environ,
        "PLANNER_BUS__BOOTSTRAP_SERVERS": bootstrap,
        "PLANNER_BUS__CONSUMER_GROUP": f"{prefix}planner",
        "PLANNER_BUS__DATABASE_URL": database_url,
        "PLANNER_TOPIC_PREFIX": prefix,
        "PLANNER_SERVE_HTTP": "false",
        "PLANNER_LOG_LEVEL": "WARNING",
    }
    log = (workdir / "planner.log").open("wb")
    command = [str(Path(sys.executable).with_name("planner")), "serve"]
    if os.environ.get("BENCH_PROFILE"):
        command = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            os.environ["BENCH_PROFILE"],
            "-m",
            "planner.cli",
            "serve",
        ]
    process = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log)
    others = {"bench and responder": os.getpid()}
    broker = local_broker_pid()
    if broker is not None:
        others["broker"] = broker
    stop = asyncio.Event()
    answering = asyncio.create_task(responder(bootstrap, prefix, stop))
    completions = AIOKafkaConsumer(
        f"{prefix}tasks.completed",
        f"{prefix}tasks.failed",
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await completions.start()
    await producer.start()
    sent: dict[str, float] = {}
    done: dict[str, float] = {}
    failed = 0

    async def submit(task_ids: list[str]) -> None:
        for task_id in task_ids:
            task = TaskSubmitted(
                task_id=task_id,
                workflow="bench-five",
                input={"n": 1},
                requested_by=Actor(kind=ActorKind.SYSTEM, id="bench"),
            )
            record = encode(new_envelope(task, source="bench", tenant_id="bench"))
            sent[task_id] = time.perf_counter()
            await producer.send(
                f"{prefix}tasks.submitted",
                record.value,
                key=record.key,
                headers=list(record.headers),
            )
        await producer.flush()

    async def collect(task_ids: set[str], timeout_s: float) -> None:
        nonlocal failed
        deadline = time.monotonic() + timeout_s
        while not task_ids <= set(done):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(task_ids & set(done))} of {len(task_ids)} runs finished")
            batches = await completions.getmany(timeout_ms=500)
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    body = json.loads(r.value)
                    done.setdefault(body["task_id"], now)
                    failed += r.topic.endswith("tasks.failed")

    try:
        # Warm-up: the group joins (one rebalance per consumed topic) and caches fill.
        warm = [f"warm-{i}" for i in range(warmup)]
        await submit(warm)
        await collect(set(warm), timeout_s=180)
        # One run at a time: the latency of a run with nothing queued ahead of it.
        alone = [f"alone-{i}" for i in range(single)]
        for task_id in alone:
            await submit([task_id])
            await collect({task_id}, timeout_s=60)
        measured = [f"run-{i}" for i in range(count)]
        cpu_before = process_cpu_s(process.pid)
        others_before = {name: process_cpu_s(pid) for name, pid in others.items()}
        start = time.perf_counter()
        await submit(measured)
        await collect(set(measured), timeout_s=600)
        elapsed = max(done[t] for t in measured) - start
        cpu = process_cpu_s(process.pid) - cpu_before
        others_cpu = {n: process_cpu_s(pid) - others_before[n] for n, pid in others.items()}
    finally:
        stop.set()
        await answering
        await completions.stop()
        await producer.stop()
        process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=20)
        if process.returncode is None:
            process.kill()
        log.close()
        if os.environ.get("BENCH_DIR"):
            (Path(os.environ["BENCH_DIR"]) / "planner.log").write_bytes(
                (workdir / "planner.log").read_bytes()
            )
    latencies = [done[t] - sent[t] for t in measured]
    one = [1000 * (done[t] - sent[t]) for t in alone]
    if failed:
        print(f"warning: {failed} runs failed", file=sys.stderr)
    # CPU per run tells where a shared machine leaves the figure: runs/s on one idle core
    # would be at most 1000 / (ms per run). Under the burst, latency is mostly queueing.
    return (
        line("planner", count, elapsed, latencies, "runs")
        + f"   planner CPU {1000 * cpu / count:.2f} ms/run\n"
        + "CPU per run of the other processes on this machine: "
        + ", ".join(f"{n} {1000 * c / count:.2f} ms" for n, c in others_cpu.items())
        + f"; all {1000 * (cpu + sum(others_cpu.values())) / count:.2f} ms"
        + f" on {os.cpu_count()} cores\n"
        + f"one at a time ({single} runs): p50 {statistics.median(one):.1f} ms"
        + f"   p99 {percentile(one, 0.99):.1f} ms (submitted to completed, 5 steps)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--single", type=int, default=20, help="runs measured one at a time")
    parser.add_argument(
        "--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)"
    )
    args = parser.parse_args()
    steal = StealMeter()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        raw = await raw_hop(args.bootstrap, args.runs * 11)
        planner = await planner_runs(
            args.bootstrap, args.runs, args.warmup, Path(tmp), args.database_url, args.single
        )
    store = "PostgreSQL" if args.database_url else "SQLite"
    print(f"one planner process ({store}), 5-step workflow, instant responders, same broker")
    print(raw)
    print(planner)
    print("target: >= 300 runs/s")
    print(steal.summary())
    await delete_created_topics(args.bootstrap)  # run after run, a broker slows down


if __name__ == "__main__":
    run_async(main())
