"""SIGKILL a consumer mid-stream, restart it: every message's effect is applied exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.e2e

MESSAGES = 1200
PARTITIONS = 3


def effects(db: Path) -> tuple[int, int]:
    """(rows, distinct events) applied so far; (0, 0) before the table exists."""
    if not db.exists():
        return 0, 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM agentbus_test_effects"
            ).fetchone()
        except sqlite3.OperationalError:
            return 0, 0
    return int(row[0]), int(row[1])


def start_consumer(
    bootstrap: str, topic: str, group: str, db: Path, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentbus.testing.effect_consumer",
                "--bootstrap",
                bootstrap,
                "--topic",
                topic,
                "--group",
                group,
                "--database-url",
                f"sqlite:///{db}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


async def lag(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    done = sum(meta.offset for tp, meta in committed.items() if tp.topic == topic)
    return MESSAGES - done


async def test_sigkill_mid_stream_applies_every_effect_once(kafka_bootstrap, tmp_path):
    topic, group = unique("crash"), unique("crash-group")
    db, log = tmp_path / "consumer.db", tmp_path / "consumer.log"
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"], partitions=PARTITIONS)
    envelopes = [
        new_envelope(
            sample(TaskSubmitted, task_id=f"task-{i}"), source="tests", tenant_id=f"t{i % 4}"
        )
        for i in range(MESSAGES)
    ]
    await produce(kafka_bootstrap, topic, [raw_record(e) for e in envelopes])

    kills = 0
    for threshold in (MESSAGES // 4, MESSAGES // 2):
        process = start_consumer(kafka_bootstrap, topic, group, db, log)
        try:

            async def reached(t: int = threshold, p: subprocess.Popen[bytes] = process) -> bool:
                if p.poll() is not None:
                    pytest.fail(f"consumer exited with {p.returncode}: {log.read_text()[-2000:]}")
                return effects(db)[1] >= t

            await eventually(reached, timeout_s=90, what=f"{threshold} effects before the kill")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
        assert effects(db)[1] < MESSAGES, "killed mid-stream, not after the end"

    process = start_consumer(kafka_bootstrap, topic, group, db, log)
    try:

        async def all_applied() -> bool:
            return effects(db)[1] == MESSAGES

        await eventually(all_applied, timeout_s=120, what="every message applied")

        async def caught_up() -> bool:
            return await lag(kafka_bootstrap, group, topic) == 0

        await eventually(caught_up, timeout_s=60, what="offsets committed to the end")
    finally:
        process.terminate()
        process.wait(timeout=30)
    rows, distinct = effects(db)
    skipped = log.read_text().count("duplicate event skipped")
    print(f"kills={kills} rows={rows} distinct={distinct} redelivered_and_skipped={skipped}")
    assert kills == 2
    assert (rows, distinct) == (MESSAGES, MESSAGES), "each effect exactly once"
    assert process.returncode == 0, "the restarted consumer shut down cleanly on SIGTERM"
    await asyncio.sleep(0)
