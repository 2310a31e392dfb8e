"""The planner's store on SQLite and PostgreSQL: migrations, tenant scoping, revisions."""

from __future__ import annotations

import pytest
from planner.app import MIGRATIONS
from planner.lifecycle import DefinitionService
from planner.runner import Topics, new_run_state
from planner.state import RunStatus
from planner.store import ConcurrentUpdateError, DefinitionRepository, RunRepository
from planner.validation import parse_definition
from planner.versions import Action
from sqlalchemy.exc import IntegrityError

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade
from contracts.types import Actor, ActorKind

pytestmark = pytest.mark.integration

SOURCE = """
name: stored
version: 1.2.0
steps:
  - {id: one, type: tool, tool: t}
"""
ALICE = Actor(kind=ActorKind.USER, id="alice")
BOB = Actor(kind=ActorKind.USER, id="bob")


@pytest.fixture
async def uow(database_url):
    engine = create_engine(database_url)
    await upgrade(engine, [MIGRATIONS])
    yield unit_factory(engine)
    await engine.dispose()


async def test_definitions_and_runs_are_scoped_and_revision_checked(uow):
    service = DefinitionService(Topics("t."))
    async with uow("acme") as u:
        row = await service.create_draft(u, SOURCE, ALICE)
        for action, actor in ((Action.SUBMIT, ALICE), (Action.APPROVE, BOB), (Action.PUBLISH, BOB)):
            row = await service.transition(u, "stored", "1.2.0", action, actor)
        definition = parse_definition(SOURCE)
        state = new_run_state(
            "run-1",
            definition,
            row.content_hash,
            tenant_id="acme",
            task_id="task-1",
            requested_by=ALICE,
        )
        await RunRepository(u).insert([state])
        await u.commit()
    async with uow("globex") as other:
        assert await RunRepository(other).get("run-1") is None
        assert await RunRepository(other).read("run-1") is None
        assert await DefinitionRepository(other).runnable("stored", None) is None
    async with uow("acme") as u:
        assert (await DefinitionRepository(u).runnable("stored", None)).version == "1.2.0"
        revision, first = await RunRepository(u).read("run-1")
        assert (revision, first) == (0, state)
        done = state.model_copy(update={"status": RunStatus.COMPLETED})
        await RunRepository(u).write([(revision, done)])
        await u.commit()
    async with uow("acme") as u:
        assert await RunRepository(u).read("run-1") == (1, done)
        assert (await RunRepository(u).get("run-1")).status == "completed"
    async with uow("acme") as slow, uow("acme") as fast:
        stale, _ = await RunRepository(slow).read("run-1")
        fresh, _ = await RunRepository(fast).read("run-1")
        await RunRepository(fast).write([(fresh, state)])
        await fast.commit()
        with pytest.raises(ConcurrentUpdateError):
            await RunRepository(slow).write([(stale, state)])
    async with uow("acme") as u:
        with pytest.raises(IntegrityError):
            await RunRepository(u).insert([state])
