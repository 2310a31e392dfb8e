"""The live store: every record once in a gapless per-tenant chain, append-only, tamper-evident."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest
from audit.app import AuditService
from audit.canonical import canonical_json
from audit.chain import link_hash
from audit.signing import CheckpointVerifier
from audit.store import AuditRepository
from audit.verify import store_tenants, verify_store
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.telemetry import TelemetrySettings, setup_telemetry
from agentbus.testing import consume, eventually, produce
from agentbus.testing.metrics import values_by

from ..support import audit_records, produce_fast
from .harness import running, settings_for, stored

pytestmark = pytest.mark.integration


async def test_records_land_once_in_gapless_chains_and_checkpoints_verify(
    kafka_bootstrap: str, database_url: str, audit_topic
) -> None:
    topic = await audit_topic()
    records = audit_records(400, tenants=("acme", "globex"), runs=40)
    await produce_fast(kafka_bootstrap, topic, records)
    await produce_fast(kafka_bootstrap, topic, records[:50])  # redelivered duplicates
    reader = InMemoryMetricReader()
    telemetry = setup_telemetry(
        "audit", TelemetrySettings(), metric_readers=(reader,), set_global=False
    )
    settings = settings_for(database_url, kafka_bootstrap, topic)
    async with running(settings, telemetry) as service:

        async def all_stored() -> bool:
            return await stored(service) == 400

        await eventually(all_stored, timeout_s=60, what="400 records stored")
        assert await service.checkpoint() == 2
        trust = CheckpointVerifier(service.signer.public_key)
        uow = service.bus.uow
        assert await store_tenants(uow) == ["acme", "globex"]
        for tenant in ("acme", "globex"):
            result = await verify_store(uow, tenant, trust)
            assert result.ok, result.problems
            assert result.records == 200
            assert result.checkpoints == 1
        async with service.bus.engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT tenant_id, seq, event_id FROM audit_records"))
            ).all()
        assert sorted(seq for t, seq, _ in rows if t == "acme") == list(range(1, 201))
        assert len({event for _, _, event in rows}) == 400
    # Counted once per record linked, by tenant; the redelivered duplicates count nothing.
    assert values_by(reader, "audit.records.appended", "tenant") == {"acme": 200, "globex": 200}


async def test_the_store_refuses_update_and_delete(
    kafka_bootstrap: str, database_url: str, audit_topic
) -> None:
    topic = await audit_topic(1)
    await produce_fast(kafka_bootstrap, topic, audit_records(3))
    async with running(settings_for(database_url, kafka_bootstrap, topic)) as service:

        async def three() -> bool:
            return await stored(service) == 3

        await eventually(three, timeout_s=30, what="3 records")
        for statement in (
            "UPDATE audit_records SET action = 'x.y' WHERE seq = 2",
            "DELETE FROM audit_records WHERE seq = 2",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with service.bus.engine.begin() as conn:
                    await conn.execute(text(statement))
        assert await stored(service) == 3


async def test_an_invalid_event_is_dead_lettered_with_its_cause(
    kafka_bootstrap: str, sqlite_url: str, audit_topic
) -> None:
    topic = await audit_topic(1)
    bad = [
        (
            b"k",
            b"{not json",
            [
                ("ce_id", b"x1"),
                ("ce_source", b"t"),
                ("ce_type", b"agentbus.audit.recorded.v1"),
                ("ce_specversion", b"1.0"),
                ("ce_tenantid", b"acme"),
            ],
        )
    ]
    wrong = [
        (
            b"k",
            b"{}",
            [
                ("ce_id", b"x2"),
                ("ce_source", b"t"),
                ("ce_type", b"agentbus.audit.recorded.v1"),
                ("ce_specversion", b"1.0"),
                ("ce_tenantid", b"acme"),
            ],
        )
    ]
    async with running(settings_for(sqlite_url, kafka_bootstrap, topic)) as service:
        await produce(kafka_bootstrap, topic, bad + wrong)
        await produce_fast(kafka_bootstrap, topic, audit_records(2))
        dead = await consume(kafka_bootstrap, f"{topic}.dlq", count=2, timeout_s=60)
        causes = sorted(dict(r.headers)["dlq.error.class"].decode() for r in dead)
        assert all(causes), causes

        async def two() -> bool:
            return await stored(service) == 2

        await eventually(two, timeout_s=30, what="valid records after the poison ones")


def forge_insert(db: sqlite3.Connection) -> None:
    """Insert a well-formed record at seq 5 that links to seq 4, as a careful forger would."""
    row = db.execute(
        "SELECT tenant_id, action, resource_type, outcome, occurred_at, recorded_at, hash, body"
        " FROM audit_records WHERE seq = 4"
    ).fetchone()
    entry = orjson.loads(row[7])
    body = canonical_json({**entry, "seq": 5, "event_id": "forged"})
    db.execute(
        "INSERT INTO audit_records (tenant_id, seq, event_id, action, resource_type, outcome,"
        " occurred_at, recorded_at, prev_hash, hash, body)"
        " VALUES (?, 5, 'forged', ?, ?, ?, ?, ?, ?, ?, ?)",
        (*row[:6], row[6], link_hash(row[6], body), body),
    )


async def all_stored(service: AuditService, count: int) -> None:
    async def stored_all() -> bool:
        return await stored(service) == count

    await eventually(stored_all, timeout_s=30, what=f"{count} records")


async def test_tampering_with_the_store_names_the_first_bad_seq(
    kafka_bootstrap: str, sqlite_url: str, audit_topic, tmp_path: Path
) -> None:
    topic = await audit_topic(1)
    await produce_fast(kafka_bootstrap, topic, audit_records(12, runs=3))
    async with running(settings_for(sqlite_url, kafka_bootstrap, topic)) as service:
        await all_stored(service, 12)
        trust = CheckpointVerifier(service.signer.public_key)
    original = Path(sqlite_url.removeprefix("sqlite:///"))
    attacks = {
        "modify": [
            "UPDATE audit_records SET body = replace(body, 'succeeded', 'failed') WHERE seq = 5"
        ],
        "delete": ["DELETE FROM audit_records WHERE seq = 5"],
        "insert": [
            "UPDATE audit_records SET seq = seq + 100 WHERE seq >= 5",
            "UPDATE audit_records SET seq = seq - 99 WHERE seq >= 105",
            forge_insert,
        ],
        "reorder": [
            "UPDATE audit_records SET seq = -5 WHERE seq = 5",
            "UPDATE audit_records SET seq = 5 WHERE seq = 6",
            "UPDATE audit_records SET seq = 6 WHERE seq = -5",
        ],
        "truncate": ["DELETE FROM audit_records WHERE seq >= 11"],
    }
    first_bad = {"truncate": 11}
    for name, statements in attacks.items():
        copy = tmp_path / f"{name}.db"
        shutil.copy(original, copy)
        with sqlite3.connect(copy) as db:
            # An attacker with file access drops the triggers first.
            for trigger in ("no_update", "no_delete"):
                db.execute(f"DROP TRIGGER audit_records_{trigger}")
            for statement in statements:
                if callable(statement):
                    statement(db)
                else:
                    db.execute(statement)
        engine = create_engine(f"sqlite:///{copy}")
        try:
            result = await verify_store(unit_factory(engine), "acme", trust)
        finally:
            await engine.dispose()
        assert result.first_bad_seq == first_bad.get(name, 5), (name, result.problems)


async def test_a_chain_is_read_in_pages_with_the_loop_running_between_them(
    kafka_bootstrap: str, sqlite_url: str, audit_topic
) -> None:
    # Verification hashes a whole trail; read in one piece, it held the service's event
    # loop (consumers, probes) for seconds on a large trail.
    topic = await audit_topic(1)
    await produce_fast(kafka_bootstrap, topic, audit_records(12, runs=3))
    async with running(settings_for(sqlite_url, kafka_bootstrap, topic)) as service:
        await all_stored(service, 12)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        pages: list[list[int]] = []
        ticks_at: list[int] = []
        try:
            async with service.bus.uow("acme") as work:
                async for links in AuditRepository(work).links(batch=5):
                    pages.append([link.seq for link in links])
                    ticks_at.append(ticks)
        finally:
            ticker.cancel()
        assert pages == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]
        assert ticks_at[0] < ticks_at[1] < ticks_at[2], ticks_at


async def test_verifying_while_the_service_appends_raises_no_false_alarm(
    kafka_bootstrap: str, database_url: str, audit_topic
) -> None:
    topic = await audit_topic(3)
    async with running(settings_for(database_url, kafka_bootstrap, topic)) as service:
        trust = CheckpointVerifier(service.signer.public_key)
        producing = asyncio.create_task(
            produce_fast(kafka_bootstrap, topic, audit_records(1500, tenants=("acme",)))
        )
        checks = 0
        while checks < 5 or await stored(service) < 1500:
            result = await verify_store(service.bus.uow, "acme", trust)
            assert result.ok, result.problems
            checks += 1
            assert checks < 500, "the records never all arrived"
            await asyncio.sleep(0.05)
        await producing
