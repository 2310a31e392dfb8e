"""Durable timers through a running Bus: fired once via the outbox at or after their time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentbus.bus import Bus
from agentbus.testing import consume, create_topics, unique
from contracts.envelope import decode

pytestmark = pytest.mark.integration


async def test_a_timer_scheduled_in_a_handler_fires_after_its_time(db_case, started, make_task):
    out = unique("timers")
    await create_topics(db_case.bootstrap, [out])
    delay = timedelta(seconds=2)
    bus = Bus(db_case.settings(timer_poll_interval_s=0.1), service="test")
    scheduled: dict[str, datetime] = {}

    @bus.consumer(db_case.topic, event_types={"agentbus.task.submitted.v1"})
    async def schedule_follow_up(envelope, uow) -> None:
        follow_up = make_task(tenant=envelope.tenantid)
        at = datetime.now(UTC) + delay
        uow.schedule(follow_up, at=at, timer_id=f"follow-up:{envelope.id}", topic=out)
        scheduled[follow_up.id] = at
        cancelled = make_task(tenant=envelope.tenantid)
        uow.schedule(cancelled, at=at, timer_id=f"cancelled:{envelope.id}", topic=out)
        assert await uow.cancel_timer(f"cancelled:{envelope.id}")

    await started(bus)
    await bus.publish(make_task(), topic=db_case.topic)
    [record] = await consume(db_case.bootstrap, out, count=1, timeout_s=30)
    fired = decode(record.headers, record.value)
    assert list(scheduled) == [fired.id], "the scheduled event, once; the cancelled one never"
    assert record.timestamp >= int(scheduled[fired.id].timestamp() * 1000), "never early"
    with pytest.raises(TimeoutError):
        await consume(
            db_case.bootstrap, out, count=2, timeout_s=2 * bus.settings.timer_poll_interval_s + 2
        )
