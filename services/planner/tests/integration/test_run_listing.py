"""Run listings: newest first, filtered, paged, without the state, through an index."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from planner.app import MIGRATIONS
from planner.store import RunRepository
from planner.tables import RunRow, utcnow
from sqlalchemy import text

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade

pytestmark = pytest.mark.integration


def run(n: int, *, tenant: str = "acme", status: str = "running", workflow: str = "w") -> RunRow:
    return RunRow(
        run_id=f"{tenant}-r{n}",
        tenant_id=tenant,
        task_id=f"t{n}",
        workflow_name=workflow,
        workflow_version="1.0.0",
        content_hash="sha256:" + "0" * 64,
        status=status,
        state={"big": "x" * 1000},
        created_at=utcnow() + timedelta(seconds=n),
    )


async def test_runs_are_listed_newest_first_by_status_and_workflow_in_pages(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, [MIGRATIONS])
        uow = unit_factory(engine)
        async with uow("acme") as unit:
            for n in range(6):
                unit.session.add(run(n, status="completed" if n % 2 else "running"))
            unit.session.add(run(9, workflow="other"))
            unit.session.add(run(99, tenant="globex"))
            await unit.commit()
        async with uow("acme") as unit:
            runs = RunRepository(unit)
            newest = await runs.listing(workflow=None, status=None, limit=3, offset=0)
            assert [r.run_id for r in newest] == ["acme-r9", "acme-r5", "acme-r4"]
            page = await runs.listing(workflow="w", status=None, limit=2, offset=2)
            assert [r.run_id for r in page] == ["acme-r3", "acme-r2"]
            done = await runs.listing(workflow=None, status="completed", limit=10, offset=0)
            assert [r.run_id for r in done] == ["acme-r5", "acme-r3", "acme-r1"]
            assert done[0].workflow_version == "1.0.0"
            assert done[0].created_at is not None
    finally:
        await engine.dispose()


async def test_a_listing_walks_an_index_instead_of_sorting_the_tenants_runs(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'planner.db'}")
    try:
        await upgrade(engine, [MIGRATIONS])
        async with engine.connect() as conn:
            for where in ("", "AND status = 'running'", "AND workflow_name = 'w'"):
                plan = await conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT run_id FROM planner_runs "
                        f"WHERE tenant_id = 'acme' {where} ORDER BY created_at DESC LIMIT 20"
                    )
                )
                details = " ".join(str(row[-1]) for row in plan)
                assert "USING INDEX" in details, details
                assert "TEMP B-TREE" not in details, details
    finally:
        await engine.dispose()
