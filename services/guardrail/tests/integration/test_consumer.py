"""The Kafka path: verdicts per tenant policy, hot reload, tokens, DLQ, duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from guardrail.tables import VaultRow
from sqlalchemy import func
from sqlmodel import select

from agentbus.guard import TOKEN_PATTERN, Guard
from agentbus.testing import produce, raw_record, unique
from contracts.envelope import decode

from .harness import ACME_V1, check_request, policy_dir, read_records, running, write_policy

pytestmark = pytest.mark.integration

TEXT = "Please email anna.berg@example.com about order 42."


def _by_request(records: list[Any]) -> dict[str, Any]:
    envelopes = [decode(r.headers, r.value) for r in records]
    return {e.data.request_id: e for e in envelopes}


async def test_two_tenants_differ_and_a_policy_edit_applies_without_restart(
    kafka_bootstrap: str, database_url: str, tmp_path: Path, guard: Guard
) -> None:
    policies = policy_dir(tmp_path)
    async with running(kafka_bootstrap, database_url, policies, guard) as h:
        acme, globex = check_request(TEXT, tenant="acme"), check_request(TEXT, tenant="globex")
        await h.send(acme, globex)
        verdicts = _by_request(await read_records(kafka_bootstrap, h.topics.verdicts, count=2))
        assert verdicts[acme.id].data.decision == "mask"
        assert (
            verdicts[acme.id].data.masked_content == "Please email <EMAIL_ADDRESS> about order 42."
        )
        assert (verdicts[acme.id].data.policy_name, verdicts[acme.id].data.policy_version) == (
            "default",
            "1",
        )
        assert verdicts[globex.id].data.decision == "block"
        assert verdicts[globex.id].data.policy_version == "7"
        assert verdicts[acme.id].runid == acme.runid
        trace_of = lambda envelope: (envelope.traceparent or "").split("-")[1]  # noqa: E731
        assert trace_of(verdicts[acme.id]) == trace_of(acme)  # the run's trace continues

        write_policy(
            policies,
            "acme",
            ACME_V1.replace('version: "1"', 'version: "2"')
            + "entities:\n  EMAIL_ADDRESS: {action: mask, mask: tokenize}\n",
        )
        again = check_request(TEXT, tenant="acme")
        await h.send(again)
        verdicts = _by_request(await read_records(kafka_bootstrap, h.topics.verdicts, count=3))
        newer = verdicts[again.id].data
        assert newer.policy_version == "2"
        token = TOKEN_PATTERN.search(newer.masked_content)
        assert token is not None
        async with h.service.bus.uow.sessions() as session:
            rows = (await session.exec(select(VaultRow))).all()
        assert [(r.tenant_id, r.token, r.entity) for r in rows] == [
            ("acme", token.group(0), "EMAIL_ADDRESS")
        ]
        assert b"anna.berg" not in rows[0].ciphertext


async def test_invalid_events_are_dead_lettered_with_a_failed_reply(
    kafka_bootstrap: str, sqlite_url: str, tmp_path: Path, guard: Guard
) -> None:
    async with running(kafka_bootstrap, sqlite_url, policy_dir(tmp_path), guard) as h:
        unknown_policy = check_request(TEXT, policy="no-such-policy")
        broken = check_request(TEXT)
        key, _, headers = raw_record(broken)
        await produce(kafka_bootstrap, h.topics.requests, [(key, b"{not json", headers)])
        await h.send(unknown_policy)
        dead = await read_records(kafka_bootstrap, f"{h.topics.requests}.dlq", count=2)
        causes = {dict(r.headers)["ce_id"].decode(): dict(r.headers) for r in dead}
        assert b"not JSON" in causes[broken.id]["dlq.error.message"]
        assert b"PermanentError" in causes[unknown_policy.id]["dlq.error.class"]
        assert b"no-such-policy" in causes[unknown_policy.id]["dlq.error.message"]
        replies = [
            decode(r.headers, r.value)
            for r in await read_records(kafka_bootstrap, h.topics.verdicts, count=2)
        ]
        failed = {e.data.request_id for e in replies if e.type == "agentbus.request.failed.v1"}
        assert failed == {broken.id, unknown_policy.id}
        # The service is still up and answers the next request.
        fine = check_request("nothing to see here")
        await h.send(fine)
        verdicts = await read_records(kafka_bootstrap, h.topics.verdicts, count=3)
        assert fine.id in {decode(r.headers, r.value).data.request_id for r in verdicts}


async def test_a_redelivered_request_is_answered_once(
    kafka_bootstrap: str, database_url: str, tmp_path: Path, guard: Guard
) -> None:
    async with running(kafka_bootstrap, database_url, policy_dir(tmp_path), guard) as h:
        run = unique("run")
        card = check_request("card 4111 1111 1111 1111", run_id=run)
        sentinel = check_request("done", run_id=run)  # same key: same partition, after it
        await h.send(card, card, sentinel)
        records = await read_records(kafka_bootstrap, h.topics.verdicts, count=2, extra_s=1.0)
        answered = [decode(r.headers, r.value).data.request_id for r in records]
        assert sorted(answered) == sorted([card.id, sentinel.id])
        audits = await read_records(kafka_bootstrap, h.topics.audit, count=2, extra_s=0.5)
        assert len(audits) == 2
        async with h.service.bus.uow.sessions() as session:
            assert (await session.exec(select(func.count()).select_from(VaultRow))).one() == 0
