"""The outbox: state and the events it causes commit together and are published after."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from agentbus.bus import Bus, PermanentError
from agentbus.storage import OutboxEntry, UnitOfWork
from agentbus.testing import consume, create_topics, eventually, produce, raw_record, unique
from agentbus.testing.effects import count_effects, record_effect
from contracts.envelope import Envelope, decode, new_envelope
from contracts.events.task import TaskCompleted
from contracts.types import Timings, WorkflowRef

pytestmark = pytest.mark.integration


def completed(source: Envelope[Any]) -> Envelope[TaskCompleted]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    data = TaskCompleted(
        task_id=source.data.task_id,
        run_id=f"run-{source.data.task_id}",
        workflow=WorkflowRef(name="echo", version="1.0.0", content_hash="sha256:" + "0" * 64),
        output={"echo": source.data.input},
        timings=Timings(started_at=now, finished_at=now, duration_ms=0),
    )
    return new_envelope(data, source="tests", tenant_id=source.tenantid, run_id=data.run_id)


async def test_events_are_published_only_when_the_state_commits(db_case, started, make_task):
    out = unique("out")
    await create_topics(db_case.bootstrap, [out])

    async def handler(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        await record_effect(envelope, uow)
        uow.publish(completed(envelope), topic=out)
        if envelope.data.input.get("fail"):
            raise PermanentError("policy says no, after the event was queued")

    bus = Bus(db_case.settings(), service="test")
    bus.consumer(db_case.topic, event_types={"agentbus.task.submitted.v1"})(handler)
    rolled_back = make_task()
    rolled_back = rolled_back.model_copy(
        update={"data": rolled_back.data.model_copy(update={"input": {"fail": True}})}
    )
    kept = make_task()
    await produce(db_case.bootstrap, db_case.topic, [raw_record(rolled_back), raw_record(kept)])
    await started(bus)

    [published] = await consume(db_case.bootstrap, out, count=1)
    event = decode(published.headers, published.value)
    assert event.type == "agentbus.task.completed.v1"
    assert event.data.task_id == kept.data.task_id
    assert published.key == f"run-{kept.data.task_id}".encode()
    await consume(db_case.bootstrap, db_case.dlq, count=1)
    async with bus.uow.sessions() as session:
        assert await count_effects(session) == 1, "the failed handler's state rolled back"
        rows = (await session.exec(select(OutboxEntry))).all()
        assert [r.event_id for r in rows] == [event.id], "its event was never queued"

    async def stamped() -> bool:
        # The relay stamps a row once the broker has acknowledged it: just after we read it.
        async with bus.uow.sessions() as session:
            row = (await session.exec(select(OutboxEntry))).one()
            return row.published_at is not None

    await eventually(stamped, what="the published row stamped")


async def test_relay_publishes_rows_left_behind_by_a_crash(db_case, started, make_task):
    """Rows committed but not yet published (crash before publish) go out by the sweep."""
    out = unique("out")
    await create_topics(db_case.bootstrap, [out])
    bus = Bus(db_case.settings(outbox_relay_grace_s=0.0), service="test")
    await bus.start()  # only to create tables; stop before writing so nothing relays
    await bus.stop()
    source = make_task()
    left_behind = completed(source)
    async with bus.uow(source.tenantid) as uow:
        uow.publish(left_behind, topic=out)
        await uow.commit()
    await bus.engine.dispose()
    restarted = Bus(db_case.settings(outbox_relay_grace_s=0.0), service="test")
    await started(restarted)
    [published] = await consume(db_case.bootstrap, out, count=1)
    assert decode(published.headers, published.value).id == left_behind.id

    async def marked() -> bool:
        async with restarted.uow.sessions() as session:
            rows = (await session.exec(select(OutboxEntry))).all()
            return len(rows) == 1 and rows[0].published_at is not None

    await eventually(marked, what="the row marked published")


async def test_publishing_for_another_tenant_is_refused(sqlite_url, make_task):
    from agentbus.bus import BusSettings
    from agentbus.storage.migrations import upgrade

    bus = Bus(BusSettings(database_url=sqlite_url), service="test")
    await upgrade(bus.engine)
    other = make_task(tenant="tenant-b")
    async with bus.uow("tenant-a") as uow:
        with pytest.raises(PermissionError, match="tenant-b"):
            uow.publish(completed(other))
    await bus.engine.dispose()
