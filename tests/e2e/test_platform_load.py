"""Many runs through two processes of every service while each is SIGKILLed and the broker restarts.

Every task is published as a plain Kafka record (what any upstream system does). While they
run, replica 0 of each service in turn is killed with SIGKILL and restarted, then the broker
is stopped and started once. At the end: every task completed exactly once (one completion
event, one run, one refund at the shop), the deliberately broken tasks failed with their cause,
the dead-letter topics hold only the injected poison records (with the cause in headers), and
both replicas of every service handled work. A few refunds above the limit are approved by a
refunds lead (through either approval process) while the faults go on. AGENTBUS_E2E_RUNS sets
the number of runs (500).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

_spec = importlib.util.spec_from_file_location(
    "platform_harness", Path(__file__).with_name("test_platform_harness.py")
)
assert _spec is not None
assert _spec.loader is not None
harness = sys.modules.get("platform_harness") or importlib.util.module_from_spec(_spec)
if "platform_harness" not in sys.modules:
    sys.modules["platform_harness"] = harness
    _spec.loader.exec_module(harness)

RUNS = int(os.environ.get("AGENTBUS_E2E_RUNS", "500"))
POISON = 3  # values that are not JSON: dead-lettered by the planner's consumer
UNKNOWN_ORDERS = 3  # the shop answers 404: each run fails at fetch_order with the cause
INVALID = 2  # input that breaks the workflow's input schema: the task is rejected (tasks.failed)
APPROVALS = 12  # refunds above the limit: a refunds lead approves each while the faults go on
CHUNKS = 8  # tasks are published in chunks between the faults

# About 10 minutes for 100 runs on a loaded 2-core machine (12 service processes start, six
# kill/restart cycles, a broker restart): outside the default suite, `make test-heavy` runs it.
pytestmark = [pytest.mark.e2e, pytest.mark.heavy, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    admin_url = os.environ.get("AGENTBUS_TEST_POSTGRES_URL")
    tag = uuid.uuid4().hex[:8]
    # Replicas share their service's database: PostgreSQL when the suite has one, else SQLite.
    urls = harness.create_databases(admin_url, tag) if admin_url else {}
    platform = harness.PlatformStack(
        tmp_path_factory.mktemp("platform-load"), replicas=2, database_urls=urls
    )
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        if admin_url:
            harness.drop_databases(admin_url, urls)


def order_of(i: int) -> str:
    # The shop's generated orders cost 20 + digits % 200: at most 100, so no approval step.
    return f"C-{200 * i + i % 81}"


def approve_pending(stack: Any, stop: threading.Event, approved: set[str]) -> None:
    """The refunds lead, approving every pending request on either approval process."""
    while not stop.is_set():
        for index in range(stack.replicas):
            try:
                pending = httpx.get(
                    stack.url("approval", "/v1/approvals", index),
                    headers={"X-API-Key": stack.keys["dana"]},
                    timeout=10,
                ).json()
                for request in pending if isinstance(pending, list) else []:
                    vote = httpx.post(
                        stack.url("approval", f"/v1/approvals/{request['id']}/approve", index),
                        headers={"X-API-Key": stack.keys["dana"]},
                        json={"payload_sha256": request["payload_sha256"], "comment": "ok"},
                        timeout=10,
                    )
                    if vote.status_code == 200:
                        approved.add(request["id"])
            except (httpx.HTTPError, ValueError):
                pass  # that process is being killed or restarted: the next round retries
        stop.wait(1.0)


def completions(bootstrap: str) -> dict[str, set[str]]:
    """task id -> distinct completion event ids on tasks.completed."""
    found: dict[str, set[str]] = defaultdict(set)
    for headers, value in harness.read_topic(bootstrap, "tasks.completed"):
        found[json.loads(value)["task_id"]].add(headers["ce_id"])
    return found


def test_runs_complete_exactly_once_across_replicas_kills_and_a_broker_restart(stack: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    bootstrap = stack.broker.bootstrap
    good = [
        (f"load-{tag}-{i}", *harness.task_record(f"load-{tag}-{i}", order_of(i), f"msg {i}"))
        for i in range(RUNS)
    ]
    unknown = [
        (f"nf-{tag}-{i}", *harness.task_record(f"nf-{tag}-{i}", f"ZZ-{i}", "where is it?"))
        for i in range(UNKNOWN_ORDERS)
    ]
    invalid = []
    for i in range(INVALID):
        headers, value = harness.task_record(f"bad-{tag}-{i}", "A-1", "x")
        body = json.loads(value)
        del body["input"]["message"]  # required by the workflow's input_schema
        invalid.append((f"bad-{tag}-{i}", headers, json.dumps(body).encode()))
    poison = [
        (f"poison-{tag}-{i}", harness.task_record(f"poison-{tag}-{i}", "A-1", "x")[0], b"{not json")
        for i in range(POISON)
    ]
    approvals = [
        (f"apr-{tag}-{i}", *harness.task_record(f"apr-{tag}-{i}", f"D-{200 * i + 150}", "broken"))
        for i in range(APPROVALS)
    ]  # 170 EUR each: above the approval limit
    approved: set[str] = set()
    stop_voting = threading.Event()
    voter = threading.Thread(target=approve_pending, args=(stack, stop_voting, approved))
    voter.start()
    size = -(-RUNS // CHUNKS)
    chunks = [good[i : i + size] for i in range(0, RUNS, size)]
    started = time.monotonic()
    harness.publish(
        bootstrap, "tasks.submitted", chunks[0] + approvals + unknown + invalid + poison
    )

    def some_done() -> bool:
        return len(completions(bootstrap)) >= max(1, len(chunks[0]) // 4)

    harness.wait_until(some_done, timeout_s=300, what="first completions", every_s=1)
    faults: list[tuple[str, float]] = []
    for n, name in enumerate(harness.SERVICES):
        began = time.monotonic()
        stack.processes[f"{name}-0"].kill()  # mid-load: runs of every chunk are in flight
        stack.restart(f"{name}-0")
        faults.append((f"SIGKILL {name}-0", time.monotonic() - began))
        if n + 1 < len(chunks):
            harness.publish(bootstrap, "tasks.submitted", chunks[n + 1])
    began = time.monotonic()
    stack.broker.down()
    stack.broker.up()
    for process in stack.processes.values():
        harness.wait_until(process.ready, timeout_s=180, what=f"{process.name} ready after broker")
    faults.append(("broker restart", time.monotonic() - began))
    for chunk in chunks[len(harness.SERVICES) + 1 :]:
        harness.publish(bootstrap, "tasks.submitted", chunk)

    expected = {task_id for task_id, _, _ in good + approvals}

    def all_done() -> bool:
        return expected <= set(completions(bootstrap))

    try:
        harness.wait_until(all_done, timeout_s=900, what=f"{RUNS} completions", every_s=2)
    finally:
        stop_voting.set()
        voter.join(timeout=30)
    elapsed = time.monotonic() - started
    print(f"{RUNS} runs in {elapsed:.0f}s with faults {faults}")

    # Exactly once: one completion event per task, and nothing completed that should fail.
    done = completions(bootstrap)
    assert set(done) == expected
    assert {t: ids for t, ids in done.items() if len(ids) != 1} == {}
    # Every side effect once: one refund per order at the shop, each of the amount looked up.
    per_order = Counter(r["order_id"] for r in stack.refunds())
    assert {o: n for o, n in per_order.items() if n != 1} == {}
    assert set(per_order) == {order_of(i) for i in range(RUNS)} | {
        f"D-{200 * i + 150}" for i in range(APPROVALS)
    }
    # Each approval run went through the approval step, decided by the refunds lead.
    outputs = {
        json.loads(v)["task_id"]: json.loads(v)["output"]
        for _, v in harness.read_topic(bootstrap, "tasks.completed")
    }
    for task_id, _, _ in approvals:
        assert outputs[task_id]["approved_by"] == ["dana"], outputs[task_id]
        assert outputs[task_id]["decision"] == "then"
    assert approved  # votes went through the API while the processes were being killed

    # The broken tasks failed, each with its cause; nothing else failed.
    failed = {
        json.loads(v)["task_id"]: json.loads(v)
        for _, v in harness.read_topic(bootstrap, "tasks.failed")
    }
    assert set(failed) == {t for t, _, _ in unknown + invalid}
    for task_id, _, _ in unknown:
        assert failed[task_id]["error"]["code"] == "tool.http_error", failed[task_id]
    for task_id, _, _ in invalid:
        assert failed[task_id]["error"]["code"] == "task.input_invalid", failed[task_id]

    # Dead letters: only the injected poison, each with the cause and where it came from.
    assert harness.topics_with_records(bootstrap, ".dlq") == {"tasks.submitted.dlq": POISON}
    letters = harness.read_topic(bootstrap, "tasks.submitted.dlq")
    assert sorted(h["ce_id"] for h, _ in letters) == sorted(h["ce_id"] for _, h, _ in poison)
    for headers, value in letters:
        assert value == b"{not json"
        assert headers["dlq.original.topic"] == "tasks.submitted"
        assert headers["dlq.error.class"]
        assert headers["dlq.consumer.group"] == "planner"

    # Scale-out: both processes of every service handled events (their consumer spans).
    handled: dict[str, set[str]] = defaultdict(set)
    for span in stack.spans():
        if span["kind"] == "consumer" and span.get("instance"):
            handled[span["service"]].add(span["instance"])
    for name in harness.SERVICES:
        assert handled[name] == {f"{name}-0", f"{name}-1"}, (name, handled[name])
