"""Tool-executor bench: added latency over a direct call of the same HTTP tool, and throughput
of one executor process when every tool call takes 100 ms.

    python bench/tool_executor_bench.py --bootstrap 127.0.0.1:19092 [--database-url URL]

Baselines printed beside the figures, measured in the same run: a direct httpx call of the
same endpoint (latency) and the same calls made directly with the same concurrency
(throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from proc import process_cpu_s
from tool_executor.domain import Implementation, SideEffect, ToolDefinition

from agentbus.testing import create_topics, raw_record
from agentbus.testing.kafka import delete_created_topics
from contracts.envelope import new_envelope
from contracts.events.tool import ToolRequested
from contracts.types import StepRef


def _tool(side_effect: SideEffect) -> ToolDefinition:
    return ToolDefinition(
        name=f"bench.{side_effect.value}",
        version="1",
        side_effect=side_effect,
        timeout_s=10,
        arguments_schema={"type": "object", "required": ["url"]},
        implementation=Implementation(kind="builtin", name="http.request"),
    )


class Replies:
    """Reads tool.results from its end; resolves a future per awaited request id."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            "tool.results", bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest"
        )
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.seek_to_end()
        for tp in self.consumer.assignment():
            await self.consumer.position(tp)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=2000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    request_id = json.loads(record.value).get("request_id")
                    future = self.waiting.pop(request_id, None)
                    if future is not None and not future.done():
                        future.set_result(now)

    def expect(self, request_id: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        return future

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.consumer.stop()


def _request(tool: str, url: str) -> Any:
    run_id = f"bench-{uuid.uuid4().hex[:12]}"
    return new_envelope(
        ToolRequested(
            step=StepRef(run_id=run_id, step_id="s"),
            tool=tool,
            arguments={"url": url, "method": "POST"},
            idempotency_key=f"{run_id}:s:1",
        ),
        source="bench",
        tenant_id="bench",
        run_id=run_id,
    )


def _py_spy(args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """Sample the executor with py-spy (GIL holder only, raw stacks) during throughput."""
    if not args.py_spy:
        return None
    command = ["py-spy", "record", "--gil", "-r", "200", "-f", "raw", "-o", args.py_spy]
    return subprocess.Popen([*command, "-p", str(args.executor_pids[0])])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(args: argparse.Namespace, base: str, producer: Any, replies: Replies) -> None:
    url = f"{base}/work?ms=0"
    async with httpx.AsyncClient() as client:
        for _ in range(20):
            await client.post(url)
        direct = []
        for _ in range(args.latency_calls):
            started = time.perf_counter()
            (await client.post(url, headers={"Idempotency-Key": uuid.uuid4().hex})).json()
            direct.append((time.perf_counter() - started) * 1000)
    for side_effect in ("read", "write"):
        executor = []
        for i in range(args.latency_calls + 10):
            envelope = _request(f"bench.{side_effect}", url)
            key, value, headers = raw_record(envelope)
            done = replies.expect(envelope.id)
            started = time.perf_counter()
            await producer.send_and_wait(args.requests_topic, value, key=key, headers=headers)
            finished = await asyncio.wait_for(done, 30)
            if i >= 10:  # warm-up
                executor.append((finished - started) * 1000)
        print(
            f"latency ({side_effect} tool), ms     median {statistics.median(executor):7.2f}"
            f"   p95 {_pct(executor, 0.95):7.2f}   | direct HTTP call: median "
            f"{statistics.median(direct):6.2f}  p95 {_pct(direct, 0.95):6.2f}   | added: "
            f"{statistics.median(executor) - statistics.median(direct):6.2f} ms (median)"
        )


async def throughput(args: argparse.Namespace, base: str, producer: Any, replies: Replies) -> None:
    url = f"{base}/work?ms={args.tool_ms}"
    n = args.throughput_calls
    envelopes = [_request(f"bench.{args.throughput_side_effect}", url) for _ in range(n)]
    futures = [replies.expect(e.id) for e in envelopes]
    spy = _py_spy(args)
    cpu_started = sum(process_cpu_s(pid) for pid in args.executor_pids)
    started = time.perf_counter()
    for envelope in envelopes:
        key, value, headers = raw_record(envelope)
        await producer.send(args.requests_topic, value, key=key, headers=headers)
    await producer.flush()
    finished = await asyncio.wait_for(asyncio.gather(*futures), args.timeout_s)
    elapsed = max(finished) - started
    cpu_ms = (sum(process_cpu_s(pid) for pid in args.executor_pids) - cpu_started) * 1000 / n
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
        spy.wait(timeout=60)
    # Baseline: the same calls made directly with the concurrency the bus allows, with the
    # same client as the executor's HTTP tool (aiohttp).
    limit = asyncio.Semaphore(args.max_in_flight)
    connector = aiohttp.TCPConnector(limit=args.max_in_flight)
    session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def one() -> None:
        async with limit, session.post(url) as response:
            await response.read()

    direct_started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    direct_elapsed = time.perf_counter() - direct_started
    await session.close()
    processes = "one process" if args.replicas == 1 else f"{args.replicas} replicas"
    print(
        f"throughput ({args.throughput_side_effect} tool, {args.tool_ms} ms each, {n} calls, "
        f"{processes}): {n / elapsed:8.1f} calls/s   | direct, {args.max_in_flight} "
        f"concurrent: {n / direct_elapsed:8.1f} calls/s   | target >= 500"
    )
    # Wall figures depend on what else the (shared) machine runs; CPU per call does not.
    print(
        f"executor CPU per call: {cpu_ms:6.2f} ms (user+system of the executor processes)   "
        f"| one core's ceiling at that cost: {1000 / cpu_ms:8.1f} calls/s"
    )
    # Calls in flight on average: at 100 ms a call, 500 calls/s needs 50 at once.
    print(
        f"effective concurrency: executor {n * args.tool_ms / 1000 / elapsed:6.1f}, "
        f"direct {n * args.tool_ms / 1000 / direct_elapsed:6.1f} calls in flight on average"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(tmp: Path) -> tuple[Path, Path]:
    tools = tmp / "tools"
    tools.mkdir()
    for side_effect in (SideEffect.READ, SideEffect.WRITE):
        body = _tool(side_effect).model_dump(mode="json")
        (tools / f"{side_effect.value}.yaml").write_text(json.dumps(body))
    grants = tmp / "grants.yaml"
    entries = [
        {"tool": f"bench.{s}", "hosts": ["127.0.0.1"], "allowed_networks": ["127.0.0.1/32"]}
        for s in ("read", "write")
    ]
    grants.write_text(json.dumps({"tenants": {"bench": entries}}))
    return tools, grants


async def _ready(args: argparse.Namespace, base: str, producer: Any, replies: Replies) -> None:
    """Send one request at a time until the executor (a separate process) answers."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        envelope = _request("bench.read", f"{base}/work?ms=0")
        key, value, headers = raw_record(envelope)
        done = replies.expect(envelope.id)
        await producer.send_and_wait(args.requests_topic, value, key=key, headers=headers)
        try:
            await asyncio.wait_for(done, 10)
            return
        except TimeoutError:
            continue
    raise SystemExit("the executor did not answer within 120 s")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        database = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        suffix = uuid.uuid4().hex[:8]
        args.requests_topic = f"bench.tool.requests.{suffix}"
        approvals = [f"bench.approval.requests.{suffix}", f"bench.approval.decisions.{suffix}"]
        await create_topics(
            args.bootstrap,
            [args.requests_topic, f"{args.requests_topic}.dlq", "tool.results", "audit.log"],
            partitions=6,
        )
        await create_topics(args.bootstrap, approvals, partitions=1)
        tools, grants = _write_config(tmp)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOOL_EXECUTOR_")}
        env.update(
            {
                "TOOL_EXECUTOR_BUS__BOOTSTRAP_SERVERS": args.bootstrap,
                "TOOL_EXECUTOR_BUS__DATABASE_URL": database,
                "TOOL_EXECUTOR_BUS__CONSUMER_GROUP": f"bench-tools-{suffix}",
                "TOOL_EXECUTOR_BUS__MAX_IN_FLIGHT": str(args.max_in_flight),
                "TOOL_EXECUTOR_HTTP__PORT": "0",
                "TOOL_EXECUTOR_LOG_LEVEL": "WARNING",
                "TOOL_EXECUTOR_TOOLS_DIR": str(tools),
                "TOOL_EXECUTOR_GRANTS_FILE": str(grants),
                "TOOL_EXECUTOR_TOPICS__REQUESTS": args.requests_topic,
                "TOOL_EXECUTOR_TOPICS__APPROVAL_REQUESTS": approvals[0],
                "TOOL_EXECUTOR_TOPICS__APPROVAL_DECISIONS": approvals[1],
            }
        )
        log = (tmp / "executor.log").open("wb")
        work = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurements
            [sys.executable, __file__, "--serve-work", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        command = [str(Path(sys.executable).parent / "tool-executor"), "serve"]
        if args.profile:
            command = [sys.executable, "-m", "cProfile", "-o", args.profile, *command]
        # Replicas share the consumer group (and the database: use PostgreSQL for them).
        executors = [
            subprocess.Popen(command, env=env, stdout=log, stderr=log)  # noqa: ASYNC220
            for _ in range(args.replicas)
        ]
        args.executor_pids = [e.pid for e in executors]
        producer = AIOKafkaProducer(
            bootstrap_servers=args.bootstrap, acks="all", linger_ms=5, enable_idempotence=True
        )
        await producer.start()
        replies = Replies(args.bootstrap)
        await replies.start()
        try:
            await _ready(args, base, producer, replies)
            print(
                f"tool-executor bench ({args.replicas} executor process(es), database "
                f"{database.split(':')[0]}, max_in_flight {args.max_in_flight} each)"
            )
            await latency(args, base, producer, replies)
            await throughput(args, base, producer, replies)
        finally:
            await replies.stop()
            await producer.stop()
            for process in (*executors, work):
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            log.close()
            errors = [
                line
                for line in (tmp / "executor.log").read_text().splitlines()
                if '"level": "error"' in line
            ]
            if errors:
                print(f"executor errors: {len(errors)}; first: {errors[0][:600]}")


def serve_work(port: int) -> None:
    """The tool's HTTP endpoint in its own process: a minimal asyncio HTTP/1.1 server that
    sleeps `ms` and answers, so the bench measures the executor, not a web framework."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                target = lines[0].split(" ")[1]
                ms = float(target.partition("ms=")[2] or 0)
                await asyncio.sleep(ms / 1000)
                body = b'{"ok":true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def run() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--latency-calls", type=int, default=100)
    parser.add_argument("--throughput-calls", type=int, default=3000)
    parser.add_argument("--throughput-side-effect", choices=["read", "write"], default="read")
    parser.add_argument("--tool-ms", type=int, default=100)
    parser.add_argument(
        "--max-in-flight", type=int, default=1000, help="the executor's default: 1000"
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="executor processes in one consumer group"
    )
    parser.add_argument("--timeout-s", type=float, default=300)
    parser.add_argument("--serve-work", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile", default=None, help="write the executor's cProfile here")
    parser.add_argument(
        "--py-spy", default=None, help="write py-spy raw stacks of the throughput phase here"
    )
    arguments = parser.parse_args()
    if arguments.serve_work is not None:
        serve_work(arguments.serve_work)
    else:
        asyncio.run(main(arguments))
        asyncio.run(delete_created_topics(arguments.bootstrap))
