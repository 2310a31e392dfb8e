"""Deadlines as durable timers: expiry, escalation, approve-on-expiry, withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.events.approval import ApprovalDecided

from .harness import approval_request, cancel_request, running, wait_events


async def test_deadline_expires_distinct_from_rejection(
    kafka_bootstrap: str, database_url: str
) -> None:
    async with running(kafka_bootstrap, database_url) as h:
        request = approval_request(deadline_in_s=1.0)
        await h.send(request)
        approval = await h.approval_for(request.id)
        events = await wait_events(kafka_bootstrap, h.topics.decisions, 1, timeout_s=20)
        assert len(events) == 1
        decided = events[0].data
        assert isinstance(decided, ApprovalDecided)
        assert decided.outcome == "expired"
        assert decided.decided_by == []
        assert decided.reason == "deadline passed without a decision"
        late = await h.client.vote("bob", approval["id"])
        assert late.status_code == 409
        assert "expired" in late.json()["message"]
        audit = await wait_events(kafka_bootstrap, h.topics.audit, 2)
        assert "approval.expire" in [e.data.action for e in audit]


async def test_escalation_moves_to_next_group_with_new_deadline(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        later = datetime.now(UTC) + timedelta(minutes=10)
        request = approval_request(
            deadline_in_s=1.5, escalation_roles=["managers"], escalation_deadline=later
        )
        await h.send(request)
        approval = await h.approval_for(request.id)
        early = await h.client.vote("frank", approval["id"])
        assert early.status_code == 403
        assert early.json()["code"] == "approval.not_eligible"

        async def escalated() -> bool:
            view = (await h.client.get("bob", f"/v1/approvals/{approval['id']}")).json()
            return bool(view["level"] == 1)

        from agentbus.testing import eventually

        await eventually(escalated, timeout_s=20, what="escalation")
        view = (await h.client.get("bob", f"/v1/approvals/{approval['id']}")).json()
        assert view["status"] == "pending"
        assert datetime.fromisoformat(view["deadline"]) == later
        vote = await h.client.vote("frank", approval["id"])
        assert vote.json()["status"] == "approved", vote.text
        events = await wait_events(kafka_bootstrap, h.topics.decisions, 1)
        assert [(e.data.outcome, [a.id for a in e.data.decided_by]) for e in events] == [
            ("approved", ["frank"])
        ]
        audit = await wait_events(kafka_bootstrap, h.topics.audit, 4)
        assert "approval.escalate" in [e.data.action for e in audit]


async def test_approve_on_expiry_and_cancel(kafka_bootstrap: str, sqlite_url: str) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        auto = approval_request(deadline_in_s=1.0, on_expiry="approve")
        withdrawn = approval_request()
        await h.send(auto, withdrawn)
        await h.approval_for(withdrawn.id)
        await h.send(cancel_request(withdrawn), cancel_request(withdrawn))
        events = await wait_events(kafka_bootstrap, h.topics.decisions, 2, timeout_s=20)
        outcomes = {e.data.request_id: (e.data.outcome, e.data.reason) for e in events}
        assert len(events) == 2
        assert outcomes == {
            auto.id: ("approved", "approved on expiry, as the policy says"),
            withdrawn.id: ("cancelled", "run cancelled"),
        }
