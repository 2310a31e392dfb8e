"""SIGKILL the audit process mid-stream, restart it: valid chains, every record exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from audit.signing import CheckpointVerifier, load_private_key
from audit.verify import verify_store

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.testing import free_port, unique

from ..support import audit_records, produce_fast
from .harness import PRIVATE_KEY

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

RECORDS = 1500


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "audit", "serve"], env=env, stdout=sink, stderr=sink
        )


def _sync_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _count(url: str) -> int:
    engine = sa.create_engine(_sync_url(url))
    try:
        with engine.connect() as conn:
            try:
                return int(conn.execute(sa.text("SELECT COUNT(*) FROM audit_records")).scalar_one())
            except sa.exc.DBAPIError:  # not migrated yet
                return 0
    finally:
        engine.dispose()


async def test_sigkill_mid_stream_leaves_valid_chains_with_every_record_once(
    kafka_bootstrap: str, database_url: str, audit_topic, tmp_path: Path
) -> None:
    topic = await audit_topic(3)
    records = audit_records(RECORDS, tenants=("acme", "globex", "initech"), runs=60)
    env = {
        **os.environ,
        "AUDIT_BUS__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AUDIT_BUS__CONSUMER_GROUP": unique("audit"),
        "AUDIT_BUS__DATABASE_URL": database_url,
        "AUDIT_BUS__COMMIT_EVERY": "50",
        # The broker's minimum: a killed member's partitions move 4 s sooner.
        "AUDIT_BUS__SESSION_TIMEOUT_MS": "6000",
        # Small fetches: one transaction per 50 records, so the kill lands between them.
        "AUDIT_BUS__MAX_POLL_RECORDS": "50",
        "AUDIT_TOPIC": topic,
        "AUDIT_SIGNING__PRIVATE_KEY": PRIVATE_KEY,
        "AUDIT_CHECKPOINT_INTERVAL_S": "0.3",
        "AUDIT_HTTP__PORT": str(free_port()),
    }
    log = tmp_path / "audit.log"
    first = _start(env, log)
    try:
        producing = asyncio.create_task(produce_fast(kafka_bootstrap, topic, records))
        deadline = time.monotonic() + 60
        while _count(database_url) < 100:
            assert time.monotonic() < deadline, f"nothing stored in 60 s: {log.read_text()[-2000:]}"
            await asyncio.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    await producing
    assert first.returncode == -signal.SIGKILL
    before = _count(database_url)
    assert 0 < before < RECORDS, "the kill must land mid-stream"
    second = _start(env, log)
    try:
        deadline = time.monotonic() + 90
        while _count(database_url) < RECORDS:
            assert time.monotonic() < deadline, f"{_count(database_url)} of {RECORDS} stored"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # let a checkpoint sign the final heads
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT event_id FROM audit_records"))).all()
        trust = CheckpointVerifier(load_private_key(PRIVATE_KEY).public_key())
        results = [
            await verify_store(unit_factory(engine), tenant, trust)
            for tenant in ("acme", "globex", "initech")
        ]
    finally:
        await engine.dispose()
    assert sorted(r[0] for r in rows) == sorted(dict(h)["ce_id"].decode() for _, _, h, _ in records)
    for result in results:
        assert result.ok, result.problems
        assert result.records == RECORDS // 3
        assert result.checkpoints >= 1
