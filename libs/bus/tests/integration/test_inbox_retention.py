"""The retention check reads the cluster's topic configs, falling back to the catalogue."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agentbus.bus import Bus, BusSettings
from agentbus.bus.admin import wait_for_leaders
from agentbus.bus.retention import (
    BookkeepingRetentionError,
    broker_retention_ms,
    check_inbox_retention,
)
from agentbus.testing import unique
from agentbus.testing.effects import record_effect

pytestmark = pytest.mark.integration

DAY_MS = 24 * 3600 * 1000


async def topic_with_retention(bootstrap: str, retention_ms: int) -> str:
    name = unique("retention")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        config = {"retention.ms": str(retention_ms)}
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=config)])
        await wait_for_leaders(admin, [name], timeout_s=30)
    finally:
        await admin.close()
    return name


async def test_the_clusters_retention_is_what_counts(kafka_bootstrap):
    ten_days = await topic_with_retention(kafka_bootstrap, 10 * DAY_MS)
    forever = await topic_with_retention(kafka_bootstrap, -1)
    settings = BusSettings(bootstrap_servers=kafka_bootstrap, bookkeeping_retention_days=9)
    found = await broker_retention_ms(settings, [ten_days, forever, "usage.records.nowhere"])
    assert found == {ten_days: 10 * DAY_MS, forever: -1}, "unknown everywhere: left out"
    with pytest.raises(BookkeepingRetentionError, match=rf"{ten_days} \(10 days\).*at least 10"):
        await check_inbox_retention(settings, [ten_days, forever])
    ok = BusSettings(bootstrap_servers=kafka_bootstrap, bookkeeping_retention_days=10)
    plan = await check_inbox_retention(ok, [ten_days, forever])
    assert plan.keep_forever == {forever}


async def test_without_a_cluster_the_catalogue_decides():
    settings = BusSettings(bootstrap_servers="127.0.0.1:1", metadata_timeout_s=2)
    found = await broker_retention_ms(settings, ["usage.records", "audit.log", "not-catalogued"])
    assert found == {"usage.records": 400 * DAY_MS, "audit.log": -1}
    with pytest.raises(BookkeepingRetentionError, match=r"usage\.records"):
        await check_inbox_retention(settings, ["usage.records"])


async def test_a_bus_refuses_to_start_when_its_inbox_would_forget_too_early(
    kafka_bootstrap, sqlite_url
):
    ten_days = await topic_with_retention(kafka_bootstrap, 10 * DAY_MS)
    settings = BusSettings(
        bootstrap_servers=kafka_bootstrap,
        database_url=sqlite_url,
        consumer_group=unique("g"),
        bookkeeping_retention_days=9,
    )
    bus = Bus(settings, service="test")
    bus.consumer(ten_days, event_types={"agentbus.task.submitted.v1"})(record_effect)
    with pytest.raises(BookkeepingRetentionError, match="at least 10"):
        await bus.start()
    await bus.engine.dispose()
