"""Bench the evaluation service: scored cases/s end to end, and scorer cost, beside baselines.

1. One in-process evaluation service (SQLite, the real broker) evaluates N cases; an instant
   planner stand-in (raw aiokafka) answers each task. Figure: cases/s from POST to the last
   case scored, and per-case latency (task submitted -> case scored, Kafka timestamps).
   Baseline: the same N messages round-tripped through two topics by raw aiokafka alone.
2. Scorers: cases/s of `score_case` with five checks, beside the same checks hand-written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jmespath
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from evaluation.app import create_app
from evaluation.dataset import Case
from evaluation.scorers import score_case
from evaluation.settings import EvaluationBusSettings, EvaluationHttpSettings, EvaluationSettings

from agentbus.http.testing import serving
from agentbus.testing import create_topics
from agentbus.testing.kafka import delete_created_topics
from contracts.envelope import decode, encode, new_envelope
from contracts.events.task import TaskCompleted
from contracts.types import Timings, WorkflowRef

TOPICS = ("tasks.submitted", "tasks.completed", "tasks.failed", "runs.events", "usage.records")
HASH = "sha256:" + "ab" * 32


async def stand_in(bootstrap: str, prefix: str, n: int) -> None:
    """Answer n tasks at once, as a planner with instant steps would."""
    consumer = AIOKafkaConsumer(
        f"{prefix}tasks.submitted",
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await consumer.start()
    await producer.start()
    try:
        answered = 0
        while answered < n:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    task = decode(record.headers, record.value).data
                    now = datetime.now(UTC)
                    done = TaskCompleted(
                        task_id=task.task_id,
                        run_id=f"run-{task.task_id}",
                        workflow=WorkflowRef(name="bench", version="1.0.0", content_hash=HASH),
                        output={"decision": "refund", "amount": task.input["n"]},
                        timings=Timings(started_at=now, finished_at=now, duration_ms=0),
                    )
                    out = encode(new_envelope(done, source="planner", tenant_id="acme"))
                    await producer.send(
                        f"{prefix}tasks.completed",
                        out.value,
                        key=out.key,
                        headers=list(out.headers),
                    )
                    answered += 1
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()


async def service_figures(bootstrap: str, n: int) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    names = [f"{prefix}{t}" for t in (*TOPICS, "evaluations.events", "audit.log")]
    await create_topics(bootstrap, names, partitions=6)
    db = Path(tempfile.mkdtemp()) / "evaluation.db"
    settings = EvaluationSettings(
        bus=EvaluationBusSettings(
            bootstrap_servers=bootstrap,
            database_url=f"sqlite:///{db}",
            consumer_group=f"bench-{uuid.uuid4().hex[:8]}",
            outbox_relay_interval_s=0.05,
            commit_interval_s=0.2,
        ),
        http=EvaluationHttpSettings(
            api_keys=[{"key": "k", "tenant": "acme", "subject": "bench", "roles": []}]  # type: ignore[list-item]
        ),
        topic_prefix=prefix,
        log_level="WARNING",
    )
    cases = "\n".join(
        json.dumps(
            {
                "id": f"c{i}",
                "input": {"n": i},
                "checks": [
                    {"type": "exact", "field": "decision", "expected": "refund"},
                    {"type": "numeric", "field": "amount", "expected": i},
                ],
            }
        )
        for i in range(n)
    )
    service = create_app(settings)
    async with (
        serving(service.http) as url,
        httpx.AsyncClient(base_url=url, headers={"X-API-Key": "k"}, timeout=60) as api,
    ):
        await service.bus.wait_until_assigned(60)
        body = {"workflow": "bench", "name": "d", "cases_jsonl": cases}
        assert (await api.post("/v1/datasets", json=body)).status_code == 201
        answering = asyncio.create_task(stand_in(bootstrap, prefix, n))
        began = time.perf_counter()
        started = await api.post("/v1/evaluations", json={"workflow": "bench", "version": "1.0.0"})
        evaluation_id = started.json()["evaluation_id"]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            view = (await api.get(f"/v1/evaluations/{evaluation_id}")).json()
            if view["status"] == "completed":
                break
            await asyncio.sleep(0.5)  # as the CLI polls
        elapsed = time.perf_counter() - began
        await answering
    latencies = await case_latencies(bootstrap, prefix)
    return {
        "cases": n,
        "cases_per_s": n / elapsed,
        "p50_ms": statistics.median(latencies),
        "p95_ms": statistics.quantiles(latencies, n=20)[18],
    }


async def case_latencies(bootstrap: str, prefix: str) -> list[float]:
    submitted = await timestamps(bootstrap, f"{prefix}tasks.submitted", "task_id")
    scored = await timestamps(bootstrap, f"{prefix}evaluations.events", "case_id")
    by_case = {k.rsplit("-", 1)[-1]: v for k, v in submitted.items()}
    return [scored[c] - by_case[c] for c in scored if c in by_case]


async def timestamps(bootstrap: str, topic: str, field: str) -> dict[str, float]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: dict[str, float] = {}
    try:
        while batch := await consumer.getmany(timeout_ms=1000):
            for records in batch.values():
                for record in records:
                    data = json.loads(record.value)
                    if field in data:
                        found[str(data[field])] = float(record.timestamp)
    finally:
        await consumer.stop()
    return found


async def raw_round_trip(bootstrap: str, n: int) -> dict[str, float]:
    """Baseline: n records A -> echo -> B through raw aiokafka, no service, no database."""
    a, b = f"bench-raw-{uuid.uuid4().hex[:8]}", f"bench-raw-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [a, b], partitions=6)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    echo_in = AIOKafkaConsumer(
        a,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"echo-{uuid.uuid4().hex[:8]}",
    )
    sink = AIOKafkaConsumer(
        b,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"sink-{uuid.uuid4().hex[:8]}",
    )
    for client in (producer, echo_in, sink):
        await client.start()

    async def echo() -> None:
        seen = 0
        while seen < n:
            for records in (await echo_in.getmany(timeout_ms=500)).values():
                for record in records:
                    await producer.send(b, record.value, key=record.key)
                    seen += 1

    echoing = asyncio.create_task(echo())
    began = time.perf_counter()
    for i in range(n):
        await producer.send(a, json.dumps({"i": i}).encode(), key=str(i).encode())
    received = 0
    while received < n:
        for records in (await sink.getmany(timeout_ms=500)).values():
            received += len(records)
    elapsed = time.perf_counter() - began
    await echoing
    for client in (producer, echo_in, sink):
        await client.stop()
    return {"cases": n, "cases_per_s": n / elapsed}


def scorer_figures(n: int) -> dict[str, float]:
    case = Case.model_validate(
        {
            "id": "c",
            "input": {},
            "expected": {"decision": "refund"},
            "checks": [
                {"type": "exact", "field": "decision", "expected": "refund"},
                {"type": "contains", "field": "reason", "expected": "late"},
                {"type": "regex", "field": "reason", "pattern": "(?i)refund"},
                {"type": "numeric", "field": "amount", "expected": 42, "tolerance": 0.5},
                {"type": "field", "path": "decision"},
            ],
        }
    )
    output: dict[str, Any] = {"decision": "refund", "reason": "late; refund it", "amount": 42.2}

    async def scored() -> float:
        began = time.perf_counter()
        for _ in range(n):
            assert (await score_case(case, output)).passed
        return time.perf_counter() - began

    elapsed = asyncio.run(scored())
    pattern = re.compile("(?i)refund")
    began = time.perf_counter()
    for _ in range(n):  # the same five checks, hand-written
        ok = (
            output["decision"] == "refund"
            and "late" in output["reason"]
            and pattern.search(output["reason"]) is not None
            and abs(output["amount"] - 42) <= 0.5
            and jmespath.search("decision", output) == jmespath.search("decision", case.expected)
        )
        assert ok
    baseline = time.perf_counter() - began
    return {"scorers_cases_per_s": n / elapsed, "hand_written_cases_per_s": n / baseline}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    service = asyncio.run(service_figures(args.bootstrap, args.cases))
    raw = asyncio.run(raw_round_trip(args.bootstrap, args.cases))
    asyncio.run(delete_created_topics(args.bootstrap))
    scorers = scorer_figures(20_000)
    print(
        f"evaluation service: {service['cases']} cases  {service['cases_per_s']:.0f} cases/s  "
        f"case latency p50 {service['p50_ms']:.0f} ms  p95 {service['p95_ms']:.0f} ms"
    )
    print(f"baseline raw aiokafka round trip: {raw['cases_per_s']:.0f} messages/s")
    print(
        f"scorers (5 checks): {scorers['scorers_cases_per_s']:.0f} cases/s  "
        f"beside hand-written checks: {scorers['hand_written_cases_per_s']:.0f} cases/s"
    )


if __name__ == "__main__":
    main()
