"""The inbox: the same event delivered twice changes state once, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from agentbus.bus import Bus
from agentbus.testing import eventually, produce, raw_record
from agentbus.testing.effects import Effect, effects_by_event, record_effect

pytestmark = pytest.mark.integration


async def test_same_event_twice_changes_state_once(db_case, started, make_task):
    bus = Bus(db_case.settings(), service="test")
    bus.consumer(db_case.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    twice, marker = make_task(), make_task()
    record = raw_record(twice)
    await produce(db_case.bootstrap, db_case.topic, [record, record, raw_record(marker)])
    await started(bus)

    async def marker_applied() -> bool:
        async with bus.uow.sessions() as session:
            return marker.id in await effects_by_event(session)

    await eventually(marker_applied, what="the record after the duplicate")
    async with bus.uow.sessions() as session:
        assert await effects_by_event(session) == {twice.id: 1, marker.id: 1}


async def test_a_second_consumer_group_applies_its_own_copy(db_case, started, make_task):
    """Deduplication is per consumer group: another service still sees the event."""
    envelope = make_task()
    await produce(db_case.bootstrap, db_case.topic, [raw_record(envelope)])
    first = Bus(db_case.settings(), service="test")
    first.consumer(db_case.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    second = Bus(
        db_case.settings(consumer_group=db_case.group + "-b", client_id="b"), service="test"
    )
    second.consumer(db_case.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    await started(first)
    await started(second)

    async def both_applied() -> bool:
        async with first.uow.sessions() as session:
            return (await effects_by_event(session)).get(envelope.id) == 2

    await eventually(both_applied, what="one application per group")


async def test_another_tenants_event_with_the_same_id_is_not_a_duplicate(
    db_case, started, make_task
):
    """Producers choose event ids: tenant B reusing tenant A's id must not hide A's event."""
    theirs = make_task(tenant="tenant-b")
    ours = make_task(tenant="tenant-a").model_copy(update={"id": theirs.id})
    marker = make_task(tenant="tenant-a")
    records = [raw_record(theirs), raw_record(ours), raw_record(ours), raw_record(marker)]
    await produce(db_case.bootstrap, db_case.topic, records)
    bus = Bus(db_case.settings(), service="test")
    bus.consumer(db_case.topic, event_types={"agentbus.task.submitted.v1"})(record_effect)
    await started(bus)

    async def applied() -> list[tuple[str, str]]:
        async with bus.uow.sessions() as session:
            rows = (await session.exec(select(Effect.tenant_id, Effect.event_id))).all()
        return sorted((tenant, event) for tenant, event in rows)

    async def marker_applied() -> bool:
        return ("tenant-a", marker.id) in await applied()

    await eventually(marker_applied, what="the record after the others")
    assert sorted(await applied()) == sorted(
        [("tenant-a", theirs.id), ("tenant-b", theirs.id), ("tenant-a", marker.id)]
    )
