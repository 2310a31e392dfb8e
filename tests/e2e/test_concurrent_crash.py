"""SIGKILL a concurrent I/O consumer: nothing lost, nothing applied twice, key order kept."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine.url import make_url

from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.e2e

RECORDS, KEYS, PARTITIONS = 2000, 100, 3


def sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = "postgresql+psycopg" if parsed.get_backend_name().startswith("postgres") else "sqlite"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def effect_rows(url: str) -> list[tuple[str, str]]:
    """(event id, label) of every applied effect, in application order."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT event_id, label FROM agentbus_test_effects ORDER BY id")
            ).all()
    except Exception:  # the table does not exist before the first start
        return []
    finally:
        engine.dispose()
    return [(r[0], r[1]) for r in rows]


def start(
    bootstrap: str, topic: str, group: str, url: str, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentbus.testing.io_consumer",
                "--bootstrap",
                bootstrap,
                "--topic",
                topic,
                "--group",
                group,
                "--database-url",
                url,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


async def test_sigkill_twice_with_concurrency_on(kafka_bootstrap, database_url, tmp_path):
    topic, group, log = unique("ccrash"), unique("ccrash-group"), tmp_path / "consumer.log"
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=PARTITIONS)
    envelopes = [
        new_envelope(
            sample(TaskSubmitted, task_id=f"k{i % KEYS:03d}-{i // KEYS:04d}"),
            source="tests",
            tenant_id=f"t{i % 3}",
            run_id=f"run-{i % KEYS}",
        )
        for i in range(RECORDS)
    ]
    await produce(kafka_bootstrap, topic, [raw_record(e) for e in envelopes])
    io = ("--delay-s", "0.02", "--max-in-flight", "200")
    kills = 0
    for threshold in (RECORDS // 4, RECORDS // 2):
        process = start(kafka_bootstrap, topic, group, database_url, log, *io)
        try:

            async def reached(t: int = threshold, p: subprocess.Popen[bytes] = process) -> bool:
                if p.poll() is not None:
                    pytest.fail(f"consumer exited with {p.returncode}: {log.read_text()[-2000:]}")
                return len(effect_rows(database_url)) >= t

            await eventually(reached, timeout_s=120, what=f"{threshold} effects before the kill")
        finally:
            kill(process)
            kills += 1
        assert len(effect_rows(database_url)) < RECORDS, "killed mid-stream, not after the end"

    process = start(kafka_bootstrap, topic, group, database_url, log, *io)
    try:

        async def all_applied() -> bool:
            return len({e for e, _ in effect_rows(database_url)}) == RECORDS

        await eventually(all_applied, timeout_s=180, what="every record applied")

        async def caught_up() -> bool:
            return sum((await committed(kafka_bootstrap, group, topic)).values()) == RECORDS

        await eventually(caught_up, timeout_s=60, what="offsets committed to the end")
    finally:
        process.terminate()
        process.wait(timeout=30)
    rows = effect_rows(database_url)
    skipped = log.read_text().count("duplicate event skipped")
    print(f"kills={kills} rows={len(rows)} redelivered_and_skipped={skipped}")
    assert kills == 2
    assert len(rows) == RECORDS == len({e for e, _ in rows}), "each effect exactly once"
    assert skipped > 0, "the kills caused redeliveries, and the inbox skipped them"
    by_key: dict[str, list[str]] = {}
    for _, label in rows:
        by_key.setdefault(label.split("-")[0], []).append(label)
    assert len(by_key) == KEYS
    for key, labels in by_key.items():
        assert labels == sorted(labels), f"per-key order broken for {key}"


async def test_a_commit_never_passes_a_record_still_in_flight(kafka_bootstrap, tmp_path):
    topic, group, log = unique("inflight"), unique("inflight-group"), tmp_path / "consumer.log"
    url = f"sqlite:///{tmp_path / 'consumer.db'}"
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    slow = new_envelope(
        sample(TaskSubmitted, task_id="slow"), source="t", tenant_id="t", run_id="a"
    )
    later = [
        new_envelope(
            sample(TaskSubmitted, task_id=f"fast-{i}"), source="t", tenant_id="t", run_id=f"r{i}"
        )
        for i in range(50)
    ]
    await produce(kafka_bootstrap, topic, [raw_record(e) for e in [slow, *later]])
    process = start(
        kafka_bootstrap, topic, group, url, log, "--slow-label", "slow", "--slow-delay-s", "600"
    )
    try:

        async def later_done() -> bool:
            return len(effect_rows(url)) == 50

        await eventually(later_done, timeout_s=60, what="the 50 later records")

        async def commits_waited() -> bool:
            # Committed at all (the periodic commit ran), and never past offset 0.
            return (await committed(kafka_bootstrap, group, topic)).get(0) == 0

        await eventually(commits_waited, timeout_s=10, what="a commit held at the slow record")
        assert "slow" not in {label for _, label in effect_rows(url)}
    finally:
        kill(process)
    process = start(kafka_bootstrap, topic, group, url, log)
    try:

        async def all_done() -> bool:
            return len(effect_rows(url)) == 51

        await eventually(all_done, timeout_s=60, what="the slow record after the restart")

        async def caught_up() -> bool:
            return (await committed(kafka_bootstrap, group, topic)).get(0) == 51

        await eventually(caught_up, timeout_s=30, what="offsets committed to the end")
    finally:
        process.terminate()
        process.wait(timeout=30)
    rows = effect_rows(url)
    assert sorted(label for _, label in rows) == sorted(["slow", *(f"fast-{i}" for i in range(50))])
    assert log.read_text().count("duplicate event skipped") == 50, "later records skipped once"
