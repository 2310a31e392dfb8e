"""Run states cached per process: a stale entry (another replica wrote) is detected, not used."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from planner.app import MIGRATIONS
from planner.lifecycle import DefinitionService
from planner.runner import RunDriver, Topics, new_run_state
from planner.state import CancelRequested
from planner.store import ConcurrentUpdateError, RunRepository
from planner.validation import parse_definition
from planner.versions import Action

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade
from contracts.types import Actor, ActorKind

pytestmark = pytest.mark.integration

SOURCE = """
name: cached
version: 1.0.0
steps:
  - {id: one, type: tool, tool: t}
  - {id: two, type: tool, tool: t, depends_on: [one]}
"""
ALICE = Actor(kind=ActorKind.USER, id="alice")
BOB = Actor(kind=ActorKind.USER, id="bob")


async def test_a_replica_with_a_stale_state_retries_on_the_fresh_one(database_url):
    engine = create_engine(database_url)
    await upgrade(engine, [MIGRATIONS])
    uow = unit_factory(engine)
    topics = Topics("c.")
    here, there = RunDriver(topics), RunDriver(topics)
    try:
        async with uow("acme") as u:
            service = DefinitionService(topics)
            row = await service.create_draft(u, SOURCE, ALICE)
            for action, actor in (
                (Action.SUBMIT, ALICE),
                (Action.APPROVE, BOB),
                (Action.PUBLISH, BOB),
            ):
                row = await service.transition(u, "cached", "1.0.0", action, actor)
            definition = parse_definition(SOURCE)
            state = new_run_state(
                "run-c",
                definition,
                row.content_hash,
                tenant_id="acme",
                task_id="t-c",
                requested_by=ALICE,
            )
            await here.start(u, state, definition, None)
            # Before the commit nothing is written, and the cache holds nothing.
            assert here.cache.get("acme", "run-c") is None
            await u.commit()
        assert here.cache.get("acme", "run-c").revision == 0
        async with uow("acme") as u:
            assert await RunRepository(u).read("run-c") == here.cache.get("acme", "run-c")

        # Another replica cancels the run: this one's cached state is now stale.
        cancel = CancelRequested(now=datetime.now(UTC), reason="stop", by=BOB)
        async with uow("acme") as u:
            assert await there.feed(u, "run-c", cancel)
            await u.commit()
        async with uow("acme") as u:
            assert await here.feed(u, "run-c", cancel)
            with pytest.raises(ConcurrentUpdateError):
                await u.commit()
        assert here.cache.get("acme", "run-c") is None, "the stale state is forgotten"
        async with uow("acme") as u:  # the retry reads the committed state
            assert await here.feed(u, "run-c", cancel)
            await u.commit()
        async with uow("acme") as u:
            revision, stored = await RunRepository(u).read("run-c")
        assert revision == 2
        assert stored.status.value == "cancelled"
        assert here.cache.get("acme", "run-c") == (revision, stored)
        # Another tenant sees neither the row nor the cached state.
        async with uow("globex") as u:
            assert not await here.feed(u, "run-c", cancel)
            assert not await here.exists(u, "run-c")
    finally:
        await engine.dispose()
