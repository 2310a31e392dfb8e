"""Alembic migrations: the bus's branch and a service's apply together, once, under races."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade
from agentbus.storage.migrations.runner import VERSION_TABLE, alembic_config
from agentbus.testing import eventually

pytestmark = pytest.mark.integration

SERVICE_VERSIONS = Path(__file__).parent / "fixtures" / "svc_versions"


async def schema(url: str) -> tuple[set[str], set[str], set[str]]:
    """(tables, columns of svc_widgets, recorded revisions)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            columns = set()
            if "svc_widgets" in tables:
                cols = await conn.run_sync(lambda c: inspect(c).get_columns("svc_widgets"))
                columns = {c["name"] for c in cols}
            versions = {r[0] for r in await conn.execute(text(f"SELECT * FROM {VERSION_TABLE}"))}
    finally:
        await engine.dispose()
    return tables, columns, versions


async def test_the_bus_branch_and_a_service_branch_both_apply(database_url: str):
    await upgrade(database_url, [SERVICE_VERSIONS])
    tables, columns, versions = await schema(database_url)
    assert {"agentbus_inbox", "agentbus_outbox", "svc_widgets"} <= tables
    assert {"id", "tenant_id", "name"} == columns, "the service branch reached its head"
    assert "svc_0002" in versions
    assert any(v.startswith("agentbus_") for v in versions)


async def test_upgrading_twice_is_a_no_op(database_url: str):
    engine = create_engine(database_url)
    try:
        await upgrade(engine, [SERVICE_VERSIONS])
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO svc_widgets (id, tenant_id) VALUES (1, 'acme')"))
        before = await schema(database_url)
        await upgrade(engine, [SERVICE_VERSIONS])
        assert await schema(database_url) == before
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, tenant_id FROM svc_widgets"))).all()
        assert [tuple(r) for r in rows] == [(1, "acme")], "data untouched by the second run"
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_from_separate_engines_are_safe(database_url: str):
    # Four "replicas" starting at once, each with its own engine (own connections).
    await asyncio.gather(*(upgrade(database_url, [SERVICE_VERSIONS]) for _ in range(4)))
    tables, columns, versions = await schema(database_url)
    assert "svc_widgets" in tables
    assert "name" in columns
    assert len([v for v in versions if v.startswith("svc_")]) == 1, "one head per branch"


async def test_a_newer_database_is_left_alone_by_older_code(database_url: str):
    await upgrade(database_url, [SERVICE_VERSIONS])
    # Code that does not know the service's revisions (an older release) must not crash.
    await upgrade(database_url)
    tables, _, versions = await schema(database_url)
    assert "svc_widgets" in tables
    assert "svc_0002" in versions


RACER = """
import asyncio, sys, time
from pathlib import Path
from agentbus.storage.migrations import upgrade
url, versions, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
ready.touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
asyncio.run(upgrade(url, [versions]))
"""


async def test_replicas_starting_at_once_in_separate_processes_are_safe(
    database_url: str, tmp_path: Path
):
    """The database's own lock (not the in-process one) keeps concurrent starts apart."""
    go = tmp_path / "go"
    racers = []
    for n in range(3):
        ready = tmp_path / f"ready-{n}"
        args = [database_url, str(SERVICE_VERSIONS), str(ready), str(go)]
        racers.append(
            (
                ready,
                await asyncio.create_subprocess_exec(
                    sys.executable, "-c", RACER, *args, stderr=asyncio.subprocess.PIPE
                ),
            )
        )

    async def all_ready() -> bool:
        return all(ready.exists() for ready, _ in racers)

    await eventually(all_ready, timeout_s=60, what="three processes ready to migrate")
    go.touch()  # released together: their upgrades overlap
    for _, process in racers:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, stderr.decode()[-2000:]
    tables, columns, versions = await schema(database_url)
    assert "svc_widgets" in tables
    assert "name" in columns
    assert len([v for v in versions if v.startswith("svc_")]) == 1


async def test_a_failing_migration_leaves_the_schema_as_it_was(database_url: str):
    failing = Path(__file__).parent / "fixtures" / "failing_versions"
    with pytest.raises(RuntimeError, match="half-way"):
        await upgrade(database_url, [failing])
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert "failing_half" not in tables, "the half-done revision rolled back"
    assert "agentbus_inbox" not in tables, "so did the bus's, applied in the same transaction"


async def test_the_inbox_key_gains_the_tenant_and_keeps_its_rows(database_url: str):
    # A database the previous release migrated (agentbus_0002), with a handled event.
    engine = create_engine(database_url)
    row = "INSERT INTO agentbus_inbox VALUES ('g', 'e-1', :t, 'topic', 0, 7, :at)"
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config([], c), "agentbus_0002"))
            await conn.execute(text(row), {"t": "acme", "at": datetime.now(UTC)})
            await conn.commit()
        await upgrade(engine)
        async with engine.connect() as conn:
            key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("agentbus_inbox"))
            # Another tenant's event with the same id is its own event now.
            await conn.execute(text(row), {"t": "globex", "at": datetime.now(UTC)})
            await conn.commit()
            kept = (
                await conn.execute(text('SELECT tenant_id, "offset" FROM agentbus_inbox'))
            ).all()
    finally:
        await engine.dispose()
    assert key["constrained_columns"] == ["consumer_group", "event_id", "tenant_id"]
    assert sorted(tuple(r) for r in kept) == [("acme", 7), ("globex", 7)]
