"""Two guardrail replicas in one consumer group and one database share the work once."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from guardrail.app import create_app
from guardrail.tables import VaultRow
from sqlalchemy import func
from sqlmodel import select

from agentbus.guard import Guard
from agentbus.http.testing import serving
from agentbus.storage import InboxEntry
from agentbus.testing import create_topics, produce, raw_record
from contracts.envelope import decode

from .harness import (
    ACME_V1,
    check_request,
    make_settings,
    make_topics,
    policy_dir,
    read_records,
    write_policy,
)

pytestmark = pytest.mark.integration

REQUESTS = 60


async def test_two_replicas_answer_each_request_once(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path, guard: Guard
) -> None:
    topics = make_topics()
    await create_topics(
        kafka_bootstrap,
        [topics.requests, f"{topics.requests}.dlq", topics.verdicts, topics.audit],
        partitions=4,
    )
    policies = policy_dir(tmp_path)
    write_policy(
        policies, "acme", ACME_V1 + "entities:\n  CREDIT_CARD: {action: mask, mask: tokenize}\n"
    )
    settings = make_settings(kafka_bootstrap, postgres_url, topics, policies)
    replicas = [create_app(settings, guard=guard) for _ in range(2)]
    # The same card in every request: both replicas write the same deterministic token.
    requests = [check_request(f"card 4111 1111 1111 1111 (#{i})") for i in range(REQUESTS)]
    async with AsyncExitStack() as stack:
        for replica in replicas:
            await stack.enter_async_context(serving(replica.http))
        for replica in replicas:
            await replica.bus.wait_until_assigned()
        await produce(kafka_bootstrap, topics.requests, [raw_record(r) for r in requests])
        records = await read_records(kafka_bootstrap, topics.verdicts, count=REQUESTS, extra_s=1.0)
        async with replicas[0].bus.uow.sessions() as session:
            inbox = (await session.exec(select(InboxEntry))).all()
            vault = (await session.exec(select(func.count()).select_from(VaultRow))).one()
    answered = [decode(r.headers, r.value).data.request_id for r in records]
    assert sorted(set(answered)) == sorted(r.id for r in requests)
    assert len(inbox) == REQUESTS  # each request handled by exactly one replica
    assert {e.partition for e in inbox} == {0, 1, 2, 3}
    assert vault == 1
