"""SIGKILL the guardrail process mid-load, restart it: every request answered, none twice."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from agentbus.guard import Guard
from agentbus.guard.samples import GENERATORS
from agentbus.testing import create_topics, produce, raw_record, unique
from contracts.envelope import decode

from .harness import MASTER_KEY, check_request, make_topics, read_records, write_policy

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REQUESTS = 400
POLICY = """
name: default
version: "1"
categories: {pii: {action: mask, mask: tokenize}}
"""


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "guardrail"], env=env, stdout=sink, stderr=sink
        )


def _count(database: Path, table: str) -> int:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            try:
                return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
            except sa.exc.OperationalError:  # not migrated yet
                return 0
    finally:
        engine.dispose()


async def _all_answered(bootstrap: str, topic: str, expected: int) -> set[str]:
    """Distinct request ids answered, once all `expected` are (duplicates may precede)."""
    answered: set[str] = set()
    wanted = expected
    while len(answered) < expected:
        records = await read_records(bootstrap, topic, count=wanted, timeout_s=90)
        answered = {decode(r.headers, r.value).data.request_id for r in records}
        wanted = len(records) + 1
    return answered


async def test_sigkill_mid_load_loses_nothing_and_applies_nothing_twice(
    kafka_bootstrap: str, tmp_path: Path, guard: Guard
) -> None:
    topics = make_topics()
    await create_topics(
        kafka_bootstrap,
        [topics.requests, f"{topics.requests}.dlq", topics.verdicts, topics.audit],
        partitions=3,
    )
    write_policy(tmp_path / "policies", "acme", POLICY)
    database = tmp_path / "guardrail.db"
    env = {
        **os.environ,
        "GUARDRAIL_BUS__BOOTSTRAP_SERVERS": kafka_bootstrap,
        # The broker's minimum: a killed member's partitions move 4 s sooner.
        "GUARDRAIL_BUS__SESSION_TIMEOUT_MS": "6000",
        "GUARDRAIL_BUS__CONSUMER_GROUP": unique("guardrail"),
        "GUARDRAIL_BUS__DATABASE_URL": f"sqlite:///{database}",
        "GUARDRAIL_BUS__COMMIT_EVERY": "20",
        # Small fetches: one transaction per 20 records, so the kill lands between them.
        "GUARDRAIL_BUS__MAX_POLL_RECORDS": "20",
        "GUARDRAIL_BUS__OUTBOX_RELAY_GRACE_S": "0.5",
        "GUARDRAIL_TOPICS__REQUESTS": topics.requests,
        "GUARDRAIL_TOPICS__VERDICTS": topics.verdicts,
        "GUARDRAIL_TOPICS__AUDIT": topics.audit,
        "GUARDRAIL_POLICY_DIR": str(tmp_path / "policies"),
        "GUARDRAIL_VAULT_MASTER_KEY": MASTER_KEY,
        "GUARDRAIL_HTTP__PORT": "0",
    }
    rng = random.Random(42)
    ssns = [GENERATORS["US_SSN"](rng)[0] for _ in range(REQUESTS)]
    requests = [check_request(f"customer ssn {ssn}, please update") for ssn in ssns]
    log = tmp_path / "guardrail.log"
    first = _start(env, log)
    try:
        await produce(kafka_bootstrap, topics.requests, [raw_record(r) for r in requests])
        # Kill as soon as some requests are handled, while the rest are still in flight.
        deadline = time.monotonic() + 60
        while not (database.exists() and _count(database, "agentbus_inbox") >= 10):
            assert time.monotonic() < deadline, "the service handled nothing within 60 s"
            await asyncio.sleep(0.01)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    handled_before_kill = _count(database, "agentbus_inbox")
    assert 0 < handled_before_kill < REQUESTS, "the kill must land mid-load"
    second = _start(env, log)
    try:
        # Verdicts may repeat (an outbox row re-sent after the kill): count distinct ids.
        answered = await _all_answered(kafka_bootstrap, topics.verdicts, REQUESTS)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert answered == {r.id for r in requests}

    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        inbox = conn.execute(sa.text("SELECT COUNT(*) FROM agentbus_inbox")).scalar_one()
        outbox = conn.execute(
            sa.text("SELECT event_id, COUNT(*) FROM agentbus_outbox GROUP BY event_id")
        ).all()
        vault = conn.execute(sa.text("SELECT COUNT(*) FROM guardrail_vault")).scalar_one()
    engine.dispose()
    assert inbox == REQUESTS
    # One verdict and one audit record per request, each written exactly once.
    assert len(outbox) == 2 * REQUESTS
    assert {count for _, count in outbox} == {1}
    assert vault == len(set(ssns))
    audits = await read_records(kafka_bootstrap, topics.audit, count=REQUESTS, timeout_s=30)
    assert {decode(r.headers, r.value).id for r in audits} == {f"{r.id}:audit" for r in requests}
