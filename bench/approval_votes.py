"""Bench the approval service: decisive votes/s and latency, beside GET /healthz on the same server.

One in-process service (SQLite, the real broker), N requests needing one approval each;
the figure is the approve call (lock, checks, vote, decision event and audit in the outbox,
commit); the baseline is the same server's cheapest authenticated-free route.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from approval.app import create_app
from approval.settings import (
    ApprovalBusSettings,
    ApprovalHttpSettings,
    ApprovalSettings,
    ApprovalTopics,
)

from agentbus.http.testing import serving
from agentbus.testing import create_topics, produce, raw_record
from agentbus.testing.kafka import delete_created_topics
from contracts.envelope import new_envelope
from contracts.events.approval import ApprovalRequested
from contracts.types import Actor, ActorKind, StepRef

KEY = "bench-key-0123456789abcdef"


def _request(tenant: str) -> object:
    run = f"run-{uuid.uuid4().hex[:12]}"
    data = ApprovalRequested(
        step=StepRef(run_id=run, step_id="pay"),
        subject="bench",
        payload={"n": run},
        deadline=datetime.now(UTC) + timedelta(hours=1),
        requested_by=Actor(kind=ActorKind.USER, id="requester"),
    )
    return new_envelope(data, source="bench", tenant_id=tenant, run_id=run)


async def _timed(calls: list[object], concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[object] = asyncio.Queue()
    for call in calls:
        queue.put_nowait(call)

    async def worker() -> None:
        while not queue.empty():
            call = queue.get_nowait()
            start = time.perf_counter()
            response = await call()  # type: ignore[operator]
            response.raise_for_status()
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


def _line(name: str, elapsed: float, latencies: list[float]) -> str:
    q = statistics.quantiles(latencies, n=100)
    return (
        f"{name:<28} {len(latencies) / elapsed:8.1f}/s   p50 {q[49] * 1000:6.1f} ms"
        f"   p99 {q[98] * 1000:6.1f} ms"
    )


async def main(bootstrap: str, count: int, concurrency: int, database_url: str | None) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = ApprovalTopics(
        requests=f"bench.approval.requests-{suffix}",
        decisions=f"bench.approval.decisions-{suffix}",
        audit=f"bench.audit-{suffix}",
    )
    await create_topics(bootstrap, [topics.requests, topics.decisions, topics.audit])
    with tempfile.TemporaryDirectory() as tmp:
        settings = ApprovalSettings(
            bus=ApprovalBusSettings(
                bootstrap_servers=bootstrap,
                consumer_group=f"bench-approval-{suffix}",
                database_url=database_url or f"sqlite:///{Path(tmp) / 'approval.db'}",
            ),
            http=ApprovalHttpSettings(
                api_keys=[{"key": KEY, "tenant": "bench", "subject": "bob", "roles": ["approver"]}]  # type: ignore[list-item]
            ),
            topics=topics,
        )
        service = create_app(settings)
        async with (
            serving(service.http) as url,
            httpx.AsyncClient(base_url=url, timeout=60) as http,
        ):
            headers = {"X-API-Key": KEY}
            requests = [_request("bench") for _ in range(count)]
            await produce(bootstrap, topics.requests, [raw_record(r) for r in requests])  # type: ignore[arg-type]
            deadline = time.monotonic() + 120
            rows: list[dict[str, str]] = []
            while len(rows) < count:
                if time.monotonic() > deadline:
                    sys.exit(f"only {len(rows)} of {count} requests stored in 120 s")
                await asyncio.sleep(0.2)
                rows = (
                    await http.get("/v1/approvals", params={"limit": 1000}, headers=headers)
                ).json()

            baseline = [lambda: http.get("/healthz") for _ in range(count)]
            votes = [
                (
                    lambda r=r: http.post(
                        f"/v1/approvals/{r['id']}/approve",
                        json={"payload_sha256": r["payload_sha256"]},
                        headers=headers,
                    )
                )
                for r in rows
            ]
            base_elapsed, base_lat = await _timed(baseline, concurrency)  # type: ignore[arg-type]
            vote_elapsed, vote_lat = await _timed(votes, concurrency)  # type: ignore[arg-type]
    store = "PostgreSQL" if database_url else "SQLite"
    print(f"approval bench: {count} requests, concurrency {concurrency}, {store}, one process")
    print(_line("baseline GET /healthz", base_elapsed, base_lat))
    print(_line("decisive approve (POST)", vote_elapsed, vote_lat))
    await delete_created_topics(bootstrap)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a temporary SQLite)")
    args = parser.parse_args()
    asyncio.run(main(args.bootstrap, args.count, args.concurrency, args.database_url))
