"""Two replicas in one consumer group append to the same tenants' chains without forking them."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from audit.settings import AuditSettings
from audit.signing import CheckpointVerifier
from audit.verify import verify_store
from sqlalchemy import text

from agentbus.testing import eventually

from ..support import audit_records, produce_fast
from .harness import running, settings_for, stored

pytestmark = pytest.mark.integration


async def test_two_replicas_share_the_work_and_keep_every_chain_gapless(
    kafka_bootstrap: str, database_url: str, audit_topic
) -> None:
    topic = await audit_topic(3)
    first = settings_for(database_url, kafka_bootstrap, topic)
    # Same group and database, small batches: both replicas append to all three tenants.
    bus = first.bus.model_copy(update={"max_poll_records": 20})
    one = first.model_copy(update={"bus": bus})
    two = AuditSettings.model_validate(
        {**one.model_dump(), "bus": {**bus.model_dump(), "client_id": "replica-2"}}
    )
    records = audit_records(600, tenants=("acme", "globex", "initech"), runs=90)
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(running(one))
        b = await stack.enter_async_context(running(two))

        async def split() -> bool:
            mine = [{tp.partition for tp in s.bus.loops[0].assignment()} for s in (a, b)]
            return all(mine) and not mine[0] & mine[1] and len(mine[0] | mine[1]) == 3

        await eventually(split, timeout_s=60, what="the partitions split between the replicas")
        await produce_fast(kafka_bootstrap, topic, records)

        async def all_in() -> bool:
            return await stored(a) == 600

        await eventually(all_in, timeout_s=90, what="600 records from two replicas")
        async with a.bus.engine.connect() as conn:
            handled = await conn.execute(text("SELECT DISTINCT partition FROM agentbus_inbox"))
        assert {row[0] for row in handled} == {0, 1, 2}
        assert await stored(a) == 600  # still: nothing applied twice after settling
        trust = CheckpointVerifier(a.signer.public_key)
        for tenant in ("acme", "globex", "initech"):
            result = await verify_store(a.bus.uow, tenant, trust)
            assert result.ok, result.problems
            assert result.records == 200
