"""Durable timers in the database: scheduled with state, fired once when due, cancellable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from agentbus.bus import unit_factory
from agentbus.storage import (
    OutboxEntry,
    TimerEntry,
    UnitOfWorkFactory,
    create_engine,
    fire_due,
    prune,
)
from agentbus.storage.migrations import upgrade
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.samples import sample

pytestmark = pytest.mark.integration


@pytest.fixture
async def uow(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield unit_factory(engine)
    await engine.dispose()


def task(tenant: str = "acme"):
    return new_envelope(sample(TaskSubmitted), source="tests", tenant_id=tenant)


async def fire(uow: UnitOfWorkFactory, limit: int = 100) -> list[int]:
    async with uow.sessions() as session:
        return await fire_due(session, limit=limit)


async def outbox(uow: UnitOfWorkFactory) -> list[OutboxEntry]:
    async with uow.sessions() as session:
        return list((await session.exec(select(OutboxEntry))).all())


async def test_a_timer_fires_once_when_due_and_never_before(uow: UnitOfWorkFactory):
    envelope = task()
    # Due 3 s ahead: a loaded machine's pause between scheduling and the first look must
    # not make "not due yet" a lie.
    at = datetime.now(UTC) + timedelta(seconds=3)
    async with uow("acme") as unit:
        unit.schedule(envelope, at=at, timer_id="t-1")
        await unit.commit()
    assert await fire(uow) == [], "not due yet"
    assert await outbox(uow) == []
    # The clock itself is under test: wait past the due time.
    await asyncio.sleep((at - datetime.now(UTC)).total_seconds() + 0.05)
    [row_id] = await fire(uow)
    assert await fire(uow) == [], "fired once"
    [row] = await outbox(uow)
    assert row.id == row_id
    assert row.event_id == envelope.id, "the event id fixed at scheduling"
    assert row.topic == "tasks.submitted"
    async with uow.sessions() as session:
        timer = (await session.exec(select(TimerEntry))).one()
    assert timer.fired_at is not None
    assert timer.fired_at.replace(tzinfo=UTC) >= at


async def test_the_timer_is_encoded_like_a_published_event(uow: UnitOfWorkFactory):
    envelope = task()
    async with uow("acme") as unit:
        unit.publish(envelope, topic="out")
        await unit.commit()
    async with uow("acme") as unit:
        unit.schedule(envelope, at=datetime.now(UTC) + timedelta(hours=1), timer_id="t")
        await unit.commit()
    async with uow.sessions() as session:
        published = (await session.exec(select(OutboxEntry))).one()
        timer = (await session.exec(select(TimerEntry))).one()
    columns = ("event_id", "tenant_id", "key", "value", "headers")
    assert [getattr(timer, c) for c in columns] == [getattr(published, c) for c in columns]
    assert timer.topic == "tasks.submitted", "the catalogue's topic when none is given"


async def test_a_cancelled_timer_never_fires(uow: UnitOfWorkFactory):
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with uow("acme") as unit:
        unit.schedule(task(), at=past, timer_id="keep")
        unit.schedule(task(), at=past, timer_id="drop")
        assert await unit.cancel_timer("drop"), "cancellable in the unit that scheduled it"
        await unit.commit()
    async with uow("globex") as unit:
        assert not await unit.cancel_timer("keep"), "another tenant's timer is not visible"
        await unit.commit()
    assert len(await fire(uow)) == 1
    async with uow("acme") as unit:
        assert not await unit.cancel_timer("keep"), "already fired"
        assert not await unit.cancel_timer("drop"), "already cancelled"
        assert not await unit.cancel_timer("nope")
    assert await fire(uow) == []
    assert len(await outbox(uow)) == 1


async def test_cancelling_rolls_back_with_its_transaction(uow: UnitOfWorkFactory):
    async with uow("acme") as unit:
        unit.schedule(task(), at=datetime.now(UTC) - timedelta(seconds=1), timer_id="t")
        await unit.commit()
    async with uow("acme") as unit:
        assert await unit.cancel_timer("t")
        # no commit: the handler failed, so its cancellation must not stick
    assert len(await fire(uow)) == 1


async def test_timer_ids_are_unique_per_tenant(uow: UnitOfWorkFactory):
    later = datetime.now(UTC) + timedelta(hours=1)
    async with uow("acme") as unit:
        unit.schedule(task("acme"), at=later, timer_id="same")
        await unit.commit()
    async with uow("globex") as unit:
        unit.schedule(task("globex"), at=later, timer_id="same")
        await unit.commit()
    async with uow("acme") as unit:
        unit.schedule(task("acme"), at=later, timer_id="same")
        with pytest.raises(IntegrityError):
            await unit.commit()


async def test_naive_times_and_other_tenants_events_are_refused(uow: UnitOfWorkFactory):
    async with uow("acme") as unit:
        with pytest.raises(ValueError, match="timezone-aware"):
            unit.schedule(task(), at=datetime.now(), timer_id="naive")
        with pytest.raises(PermissionError, match="globex"):
            unit.schedule(task("globex"), at=datetime.now(UTC), timer_id="other")


async def test_concurrent_pollers_claim_disjoint_timers(database_url: str, uow):
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with uow("acme") as unit:
        for i in range(300):
            unit.schedule(task(), at=past, timer_id=f"t-{i}")
        await unit.commit()
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        factories = [unit_factory(e) for e in engines]

        async def drain(factory: UnitOfWorkFactory) -> list[int]:
            ids: list[int] = []
            while batch := await fire(factory, limit=25):
                ids.extend(batch)
            return ids

        results = await asyncio.gather(*(drain(f) for f in factories))
    finally:
        for engine in engines:
            await engine.dispose()
    claimed = [i for ids in results for i in ids]
    assert len(claimed) == 300
    assert len(set(claimed)) == 300
    rows = await outbox(uow)
    assert len({r.event_id for r in rows}) == len(rows) == 300, "one outbox row per timer"


async def test_prune_keeps_pending_timers_and_drops_old_finished_ones(uow: UnitOfWorkFactory):
    now = datetime.now(UTC)
    async with uow("acme") as unit:
        unit.schedule(task(), at=now + timedelta(days=365), timer_id="pending")
        unit.schedule(task(), at=now - timedelta(seconds=1), timer_id="fired")
        unit.schedule(task(), at=now + timedelta(days=1), timer_id="cancelled")
        await unit.cancel_timer("cancelled")
        await unit.commit()
    await fire(uow)
    async with uow.sessions() as session:
        kept = await prune(session, handled_before=now - timedelta(days=1))
    assert kept.timers == 0, "nothing finished before the cutoff"
    async with uow.sessions() as session:
        pruned = await prune(session, handled_before=now + timedelta(days=400))
    assert pruned.timers == 2
    async with uow.sessions() as session:
        left = (await session.exec(select(TimerEntry))).all()
    assert [t.timer_id for t in left] == ["pending"], "a pending timer is never pruned"
