"""Group commit: concurrent short transactions share one commit; a failure stays its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import event

from agentbus.bus import OutboundRecord, unit_factory
from agentbus.bus.group import GroupCommit
from agentbus.bus.relay import OutboxRelay
from agentbus.storage import UnitOfWork, create_engine
from agentbus.storage.migrations import upgrade
from agentbus.testing.effects import EFFECT_MIGRATIONS, Effect, count_effects


class Sink:
    async def send(self, records: Sequence[OutboundRecord]) -> list[tuple[int, int]]:
        return [(0, i) for i in range(len(records))]


@pytest.fixture
async def uow(sqlite_url: str) -> Any:
    engine = create_engine(sqlite_url)
    await upgrade(engine, [EFFECT_MIGRATIONS])
    yield unit_factory(engine)
    await engine.dispose()


def effect(label: str, fail: bool = False):
    async def work(unit: UnitOfWork, alone: bool) -> str:
        unit.session.add(Effect(tenant_id=unit.tenant_id, event_id=label, label=label))
        if fail:
            raise ValueError(f"{label} cannot be recorded")
        return label

    return work


async def test_concurrent_work_commits_once_and_a_failure_stays_its_own(uow):
    commits: list[int] = []
    event.listen(uow.engine.sync_engine, "commit", lambda conn: commits.append(1))
    group = GroupCommit(
        uow,
        OutboxRelay(uow, Sink(), interval_s=60, grace_s=60, batch_size=10),
        max_batch=50,
        timeout_s=5,
    )
    ok = await asyncio.gather(*(group.run("t", effect(f"e{i}")) for i in range(20)))
    assert ok == [f"e{i}" for i in range(20)]
    assert len(commits) == 1, "twenty records, one commit"
    results = await asyncio.gather(
        group.run("t", effect("a")),
        group.run("t", effect("bad", fail=True)),
        group.run("t", effect("b")),
        return_exceptions=True,
    )
    assert results[0] == "a"
    assert results[2] == "b"
    assert isinstance(results[1], ValueError)
    async with uow.sessions() as session:
        assert await count_effects(session) == 22, "the failed one only is missing"
    await group.close()
