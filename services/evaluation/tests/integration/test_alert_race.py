"""Two checks of one alert rule at once: the one that waited decides on what the other committed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from evaluation import agentops
from evaluation.agentops import AgentOps
from evaluation.app import MIGRATIONS
from evaluation.evaluations import Topics
from evaluation.settings import AlertRule
from evaluation.tables import DeadLetterRow
from opentelemetry import metrics

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade

pytestmark = pytest.mark.integration


async def test_a_check_that_waited_for_the_rule_does_not_undo_the_one_before(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(database_url)
    await upgrade(engine, [MIGRATIONS])
    uows = unit_factory(engine)
    rule = AlertRule(name="dlq", tenant="acme", workflow="refunds", metric="dlq_count", threshold=0)
    ops = AgentOps(Topics(), [rule], metrics.get_meter("test"))
    published: list[str] = []
    monkeypatch.setattr(
        agentops,
        "publish_alert",
        lambda _uow, _topics, event: published.append(type(event).__name__),
    )
    dead_letter = DeadLetterRow(
        topic="tasks.completed.dlq",
        partition=0,
        offset=0,
        tenant_id="acme",
        workflow="refunds",
        version="1.0.0",
        original_topic="tasks.completed",
        error_class="ContractViolationError",
        failed_at=datetime.now(UTC),
    )

    async def second_check() -> None:
        async with uows("acme") as uow:
            await ops.check_alerts(uow, "refunds")
            await uow.commit()

    try:
        async with uows("acme") as first:
            first.session.add(dead_letter)
            await first.session.flush()
            await ops.check_alerts(first, "refunds")  # the rule fires; its row stays locked
            assert published == ["AlertRaised"]
            waiting: Any = asyncio.create_task(second_check())
            await asyncio.sleep(0.5)  # the second check is now waiting for the first
            assert not waiting.done()
            await first.commit()
        await asyncio.wait_for(waiting, timeout=30)
        assert published == ["AlertRaised"], "the second check saw the dead letter: no change"
    finally:
        await engine.dispose()
