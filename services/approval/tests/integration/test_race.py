"""Two replicas, one database: racing last votes make exactly one decision event."""

from __future__ import annotations

import asyncio

from agentbus.testing import unique

from .harness import approval_request, make_topics, running, wait_events

REQUESTS = 6


async def test_racing_last_votes_on_two_replicas_decide_once(
    kafka_bootstrap: str, database_url: str
) -> None:
    topics, group = make_topics(), unique("approval")
    async with (
        running(kafka_bootstrap, database_url, topics, group=group, partitions=2) as one,
        running(kafka_bootstrap, database_url, topics, group=group, partitions=2) as two,
    ):
        requests = [approval_request(required=2) for _ in range(REQUESTS)]
        await one.send(*requests)
        approvals = [await one.approval_for(r.id) for r in requests]
        for approval in approvals:
            assert (await one.client.vote("bob", approval["id"])).status_code == 200

        async def race(approval_id: str) -> list[int]:
            a, b = await asyncio.gather(
                one.client.vote("carol", approval_id), two.client.vote("dave", approval_id)
            )
            return sorted([a.status_code, b.status_code])

        results = await asyncio.gather(*(race(a["id"]) for a in approvals))
        # One vote decides (200); the other finds the request already approved (409).
        assert results == [[200, 409]] * REQUESTS

        events = await wait_events(kafka_bootstrap, topics.decisions, REQUESTS, settle_s=2.0)
        # The relay is at-least-once (two replicas may both send an outbox row; consumers
        # drop the copy by event id), so "one decision" means one event id per request.
        ids_per_request: dict[str, set[str]] = {}
        for event in events:
            ids_per_request.setdefault(event.data.request_id, set()).add(event.id)
        assert ids_per_request == {
            r.id: {f"{a['id']}:decided"} for r, a in zip(requests, approvals, strict=True)
        }
        for event in events:
            assert event.data.outcome == "approved"
            assert len(event.data.decided_by) == 2
