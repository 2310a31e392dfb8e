"""`make demo`: the catalogue's topics, and one task through the bus runtime end to end.

Until the services exist, a stand-in consumer plays the planner: it takes
tasks.submitted, records the task in its own database, and emits task.completed
through the transactional outbox. The demo then shows what each side saw.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from rich.console import Console
from rich.table import Table
from sqlmodel import select

from agentbus.bus import Bus, BusSettings
from agentbus.bus.admin import ensure_topics
from agentbus.storage import InboxEntry, OutboxEntry, UnitOfWork
from agentbus.telemetry import configure_logging
from contracts.envelope import Envelope, decode, encode, new_envelope
from contracts.events.task import TaskCompleted, TaskSubmitted
from contracts.samples import sample
from contracts.topics import all_topics, topic
from contracts.types import Timings, WorkflowRef

console = Console()


async def stand_in_planner(envelope: Envelope[Any], uow: UnitOfWork) -> None:
    """Complete the task at once: echo its input as the output."""
    task: TaskSubmitted = envelope.data
    now = datetime.now(UTC)
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    done = TaskCompleted(
        task_id=task.task_id,
        run_id=run_id,
        workflow=WorkflowRef(
            name=task.workflow, version="1.0.0", content_hash="sha256:" + "0" * 64
        ),
        output={"echo": task.input},
        correlation_id=task.correlation_id,
        timings=Timings(started_at=envelope.time, finished_at=now, duration_ms=0),
    )
    console.print(f"  [cyan]consumer[/] handled {envelope.type} for tenant {envelope.tenantid}")
    uow.publish(
        new_envelope(done, source="demo-planner", tenant_id=envelope.tenantid, run_id=run_id)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--state-dir", default=".cache/demo", type=Path)
    args = parser.parse_args()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    configure_logging("demo-planner", "WARNING")  # structured JSON lines on stderr
    asyncio.run(run(args.bootstrap, args.state_dir))


async def run(bootstrap: str, state: Path) -> None:
    console.rule("1. topics (idempotent create from the catalogue)")
    results = await ensure_topics(bootstrap, all_topics(include_dlq=True))
    table = Table("topic", "status")
    for result in results:
        table.add_row(result.name, "created" if result.created else "exists")
    console.print(table)

    console.rule("2. a task through the bus")
    # A long-lived group and database, as a real service has: a rerun resumes from
    # the committed offsets instead of racing a "latest" reset.
    settings = BusSettings(
        bootstrap_servers=bootstrap,
        client_id="demo-planner",
        consumer_group="demo-planner",
        database_url=f"sqlite:///{state / 'demo-planner.db'}",
        auto_offset_reset="earliest",
    )
    bus = Bus(settings, service="demo-planner")
    bus.consumer("tasks.submitted")(stand_in_planner)
    watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await watcher.start()
    completed_partitions = [
        TopicPartition("tasks.completed", p) for p in range(topic("tasks.completed").partitions)
    ]
    watcher.assign(completed_partitions)
    await watcher.seek_to_end(*completed_partitions)
    await bus.start()
    await bus.wait_until_assigned()
    task = sample(TaskSubmitted, task_id=f"demo-{uuid.uuid4().hex[:8]}", workflow="echo")
    envelope = new_envelope(task, source="urn:demo:upstream", tenant_id="demo-tenant")
    record = encode(envelope)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    started = time.perf_counter()
    await producer.send_and_wait(
        "tasks.submitted", record.value, key=record.key, headers=list(record.headers)
    )
    await producer.stop()
    console.print(f"  [green]upstream[/] published {envelope.type} id={envelope.id}")
    for name, value in record.headers:
        console.print(f"    {name}: {value.decode()}")
    completed = None
    deadline = time.monotonic() + 60
    while completed is None and time.monotonic() < deadline:
        batches = await watcher.getmany(timeout_ms=1000)
        for records in batches.values():
            for r in records:
                event = decode(r.headers, r.value)
                if getattr(event.data, "task_id", None) == task.task_id:
                    completed = event
    elapsed_ms = (time.perf_counter() - started) * 1000
    await watcher.stop()
    if completed is None:
        console.print("[red]no task.completed within 60 s")
        await bus.stop()
        raise SystemExit(1)
    console.print(
        f"  [green]upstream[/] received {completed.type} run={completed.runid} "
        f"output={completed.data.output} in {elapsed_ms:.0f} ms"
    )

    console.rule("3. what the consumer's database holds")
    async with bus.uow.sessions() as session:
        inbox = (
            await session.exec(select(InboxEntry).where(InboxEntry.event_id == envelope.id))
        ).all()
        outbox = (
            await session.exec(select(OutboxEntry).where(OutboxEntry.event_id == completed.id))
        ).all()
    table = Table("table", "event id", "tenant", "where", "published")
    for i in inbox:
        table.add_row("inbox", i.event_id, i.tenant_id, f"{i.topic}/{i.partition}/{i.offset}", "")
    for o in outbox:
        table.add_row("outbox", o.event_id, o.tenant_id, o.topic, str(o.published_at))
    console.print(table)

    console.rule("4. a poison record goes to the dead-letter topic, with its cause")
    poison = [(k, v) for k, v in record.headers if k != "ce_id"] + [("ce_id", b"demo-poison")]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    await producer.send_and_wait("tasks.submitted", b"{not json", key=b"poison", headers=poison)
    await producer.stop()
    letter = await _next_dead_letter(bootstrap, "tasks.submitted.dlq", b"poison")
    await bus.stop()
    for name, value in letter:
        if name.startswith("dlq."):
            console.print(f"    {name}: {value.decode()}")
    console.print("  inspect and redrive with: uv run agentbus dlq list tasks.submitted")
    console.rule("done")


async def _next_dead_letter(bootstrap: str, dlq: str, key: bytes) -> list[tuple[str, bytes]]:
    """Headers of the newest dead letter with `key` (bounded wait)."""
    consumer = AIOKafkaConsumer(dlq, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        found: list[tuple[str, bytes]] | None = None
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for r in records:
                    if r.key == key:
                        found = list(r.headers)
            if found is not None and not batches:
                return found
        raise SystemExit(f"no dead letter in {dlq} within 60 s")
    finally:
        await consumer.stop()


if __name__ == "__main__":
    main()
