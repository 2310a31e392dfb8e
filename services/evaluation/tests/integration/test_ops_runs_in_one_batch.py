"""A batch that starts and ends a run in one transaction records it once, ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from evaluation.agentops import AgentOps
from evaluation.app import MIGRATIONS
from evaluation.evaluations import Topics
from evaluation.tables import OpsRunRow
from opentelemetry import metrics
from sqlmodel import select

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade
from contracts.envelope import new_envelope
from contracts.events.run import RunCompleted, RunStarted
from contracts.types import Timings, WorkflowRef

pytestmark = pytest.mark.integration

WORKFLOW = WorkflowRef(name="refunds", version="1.0.0", content_hash="sha256:" + "a" * 64)


def started(run_id: str) -> object:
    data = RunStarted(run_id=run_id, task_id=f"task-{run_id}", workflow=WORKFLOW)
    return new_envelope(data, source="planner", tenant_id="acme", run_id=run_id)


def completed(run_id: str) -> object:
    now = datetime.now(UTC)
    timings = Timings(started_at=now - timedelta(seconds=2), finished_at=now, duration_ms=2000)
    data = RunCompleted(
        run_id=run_id, task_id=f"task-{run_id}", workflow=WORKFLOW, output={}, timings=timings
    )
    return new_envelope(data, source="planner", tenant_id="acme", run_id=run_id)


async def test_a_run_started_and_ended_in_one_batch_is_one_ended_row(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, [MIGRATIONS])
        uows = unit_factory(engine)
        ops = AgentOps(Topics(), [], metrics.get_meter("test"))
        async with uows("acme") as uow:  # an earlier batch started r2
            await ops.on_run_event(started("r2"), uow)  # type: ignore[arg-type]
            await uow.commit()
        async with uows("acme") as uow:  # one batch, as the bus settles a poll's records
            for envelope in (started("r1"), completed("r1"), completed("r2"), started("r3")):
                await ops.on_run_event(envelope, uow)  # type: ignore[arg-type]
            await uow.commit()
        async with uows("acme") as uow:
            rows = (await uow.session.exec(select(OpsRunRow))).all()
            ended = {row.run_id: (row.status, row.duration_ms) for row in rows}
        assert ended == {
            "r1": ("completed", 2000),
            "r2": ("completed", 2000),
            "r3": ("running", None),
        }
    finally:
        await engine.dispose()
