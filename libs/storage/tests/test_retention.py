"""Pruning deletes only bookkeeping nothing can need: never young, kept or unpublished rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from agentbus.bus import unit_factory
from agentbus.storage import InboxEntry, OutboxEntry, create_engine, prune
from agentbus.storage.migrations import upgrade
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.integration


async def test_prune_spares_young_rows_kept_topics_and_unpublished_outbox(database_url: str):
    engine = create_engine(database_url)
    await upgrade(engine)
    uow = unit_factory(engine)
    try:
        async with uow("acme") as unit:
            for n, topic in enumerate(["tasks.submitted", "audit.log"]):
                await unit.claim("g", f"e{n}", topic=topic, partition=0, offset=n)
            unit.publish(new_envelope(sample(TaskSubmitted), source="t", tenant_id="acme"))
            await unit.commit()
        now = datetime.now(UTC)
        async with uow.sessions() as session:
            young = await prune(session, handled_before=now - timedelta(days=1))
        assert young == (0, 0, 0), "nothing is older than the cutoff"
        async with uow.sessions() as session:
            later = now + timedelta(days=1)
            pruned = await prune(session, handled_before=later, keep_topics={"audit.log"})
        assert (pruned.inbox, pruned.outbox) == (1, 0), "unpublished outbox rows stay"
        async with uow.sessions() as session:
            inbox = (await session.exec(select(InboxEntry))).all()
            outbox = (await session.exec(select(OutboxEntry))).all()
        assert [row.topic for row in inbox] == ["audit.log"], "a topic kept forever keeps its rows"
        assert len(outbox) == 1
    finally:
        await engine.dispose()


async def test_prune_deletes_in_chunks_until_nothing_old_is_left(database_url: str):
    engine = create_engine(database_url)
    await upgrade(engine)
    uow = unit_factory(engine)
    try:
        async with uow("acme") as unit:
            for n in range(7):
                unit.claim_unchecked("g", f"e{n}", topic="tasks.submitted", partition=0, offset=n)
            await unit.commit()
        later = datetime.now(UTC) + timedelta(days=1)
        async with uow.sessions() as session:
            pruned = await prune(session, handled_before=later, chunk=3)
        assert pruned.inbox == 7
        async with uow.sessions() as session:
            assert (await session.exec(select(InboxEntry))).all() == []
    finally:
        await engine.dispose()
