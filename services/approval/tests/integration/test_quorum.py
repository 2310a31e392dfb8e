"""Quorum, separation of duties, roles, payload binding and tenancy over the real stack."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentbus.telemetry import TelemetrySettings, setup_telemetry
from agentbus.testing import consume
from contracts.events.approval import ApprovalDecided

from .harness import approval_request, running, wait_events


async def test_two_of_three_complete_and_one_vote_does_not(
    kafka_bootstrap: str, database_url: str
) -> None:
    reader = InMemoryMetricReader()
    telemetry = setup_telemetry(
        "approval", TelemetrySettings(), metric_readers=(reader,), set_global=False
    )
    async with running(kafka_bootstrap, database_url, telemetry=telemetry) as h:
        request = approval_request(required=2)
        await h.send(request)
        approval = await h.approval_for(request.id)
        first = await h.client.vote("bob", approval["id"])
        assert first.status_code == 200, first.text
        assert first.json() | {} == {
            "approval_id": approval["id"],
            "status": "pending",
            "approvals": 1,
            "rejections": 0,
            "decided": False,
        }
        second = await h.client.vote("carol", approval["id"])
        assert second.json()["status"] == "approved"
        assert second.json()["decided"] is True
        late = await h.client.vote("dave", approval["id"])
        assert late.status_code == 409
        assert late.json()["code"] == "approval.not_pending"

        events = await wait_events(kafka_bootstrap, h.topics.decisions, 1)
        assert len(events) == 1
        decided = events[0].data
        assert isinstance(decided, ApprovalDecided)
        assert decided.outcome == "approved"
        assert [a.id for a in decided.decided_by] == ["bob", "carol"]
        assert decided.request_id == request.id
        assert decided.payload_sha256 == approval["payload_sha256"]
        assert events[0].runid == request.runid

        audit = await wait_events(kafka_bootstrap, h.topics.audit, 4)
        actions = [(e.data.action, e.data.actor.id) for e in audit]
        assert ("approval.request", "approval") in actions
        assert ("approval.vote", "bob") in actions
        assert ("approval.vote", "carol") in actions
        assert ("approval.approve", "carol") in actions
        assert "approval.refused" not in {a for a, _ in actions}


async def test_self_approval_double_vote_and_missing_role_are_refused(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        request = approval_request(required=2, requester="alice")
        await h.send(request)
        approval = await h.approval_for(request.id)
        path = approval["id"]

        own = await h.client.vote("alice", path)
        assert own.status_code == 403
        assert own.json()["code"] == "approval.self_approval"
        assert "requester" in own.json()["message"]

        assert (await h.client.vote("bob", path)).status_code == 200
        again = await h.client.vote("bob", path)
        assert again.status_code == 409
        assert again.json()["code"] == "approval.already_voted"

        wrong_role = await h.client.vote("erin", path)
        assert wrong_role.status_code == 403
        assert wrong_role.json()["code"] == "approval.not_eligible"
        assert "finance" in wrong_role.json()["message"]

        no_api_role = await h.client.vote("nobody", path)
        assert no_api_role.status_code == 403
        assert no_api_role.json()["code"] == "auth.forbidden"

        view = (await h.client.get("bob", f"/v1/approvals/{path}")).json()
        assert view["status"] == "pending"
        assert [v["voter"] for v in view["votes"]] == ["bob"]

        audit = await wait_events(kafka_bootstrap, h.topics.audit, 5)
        denied = sorted(
            (e.data.actor.id, e.data.error_code) for e in audit if e.data.outcome == "denied"
        )
        assert denied == [
            ("alice", "approval.self_approval"),
            ("bob", "approval.already_voted"),
            ("erin", "approval.not_eligible"),
        ]


async def test_rejection_vetoes_and_changed_payload_does_not_apply(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        first = approval_request(required=2, payload={"invoice": "42", "amount": "120.00"})
        changed = approval_request(required=2, payload={"invoice": "42", "amount": "9120.00"})
        await h.send(first, changed)
        a = await h.approval_for(first.id)
        b = await h.approval_for(changed.id)
        assert a["payload_sha256"] != b["payload_sha256"]

        # Bob reviewed the first payload; his approval must not count for the changed one.
        stale = await h.client.vote("bob", b["id"], sha=a["payload_sha256"])
        assert stale.status_code == 409
        assert stale.json()["code"] == "approval.payload_changed"
        assert (await h.client.get("bob", f"/v1/approvals/{b['id']}")).json()["votes"] == []

        assert (await h.client.vote("bob", a["id"])).json()["approvals"] == 1
        veto = await h.client.vote("carol", a["id"], "reject")
        assert veto.json()["status"] == "rejected"

        events = await wait_events(kafka_bootstrap, h.topics.decisions, 1)
        assert [(e.data.outcome, [x.id for x in e.data.decided_by]) for e in events] == [
            ("rejected", ["carol"])
        ]


async def test_other_tenant_sees_and_decides_nothing(kafka_bootstrap: str, sqlite_url: str) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        request = approval_request()
        await h.send(request)
        approval = await h.approval_for(request.id)
        path = f"/v1/approvals/{approval['id']}"

        assert (await h.client.get("mallory", "/v1/approvals")).json() == []
        seen = await h.client.get("mallory", path)
        assert seen.status_code == 404
        assert seen.json()["code"] == "not_found"
        vote = await h.client.vote("mallory", approval["id"], sha=approval["payload_sha256"])
        assert vote.status_code == 404
        delegate = await h.client.post("mallory", f"{path}/delegate", {"to": "bob"})
        assert delegate.status_code == 404
        assert (await h.client.get("bob", path)).json()["status"] == "pending"


async def test_delegation_is_recorded_and_used_once(kafka_bootstrap: str, sqlite_url: str) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        request = approval_request(required=2, requester="alice")
        await h.send(request)
        approval = await h.approval_for(request.id)
        path = f"/v1/approvals/{approval['id']}"

        to_requester = await h.client.post("bob", f"{path}/delegate", {"to": "alice"})
        assert to_requester.status_code == 409
        assert to_requester.json()["code"] == "approval.delegation_refused"

        handed = await h.client.post("bob", f"{path}/delegate", {"to": "erin", "comment": "away"})
        assert handed.status_code == 200, handed.text
        own = await h.client.vote("bob", approval["id"])
        assert own.json()["code"] == "approval.already_voted"
        # Erin lacks the finance role but votes on Bob's authority, once.
        assert (await h.client.vote("erin", approval["id"])).json()["approvals"] == 1
        assert (await h.client.vote("carol", approval["id"])).json()["status"] == "approved"

        view = (await h.client.get("carol", path)).json()
        assert view["delegations"][0] | {"at": None} == {
            "delegator": "bob",
            "delegate": "erin",
            "comment": "away",
            "at": None,
        }
        assert [(v["voter"], v["on_behalf_of"]) for v in view["votes"]] == [
            ("erin", "bob"),
            ("carol", None),
        ]
        audit = await wait_events(kafka_bootstrap, h.topics.audit, 5)
        assert ("approval.delegate", "bob") in [(e.data.action, e.data.actor.id) for e in audit]


async def test_payload_never_leaves_in_events_or_logs(
    kafka_bootstrap: str, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    planted = "DE89370400440532013000-planted"
    # The service's own loggers at DEBUG, the rest at the service's default INFO (aiokafka's
    # DEBUG lines echo raw records, including the test producer's own request).
    caplog.set_level(logging.INFO)
    for name in ("approval", "agentbus"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with running(kafka_bootstrap, sqlite_url) as h:
        request = approval_request(payload={"iban": planted})
        await h.send(request)
        approval = await h.approval_for(request.id)
        assert (await h.client.vote("bob", approval["id"])).json()["status"] == "approved"
        # The approver does see it: that is what they approve.
        shown = (await h.client.get("bob", f"/v1/approvals/{approval['id']}")).json()
        assert shown["payload"] == {"iban": planted}
        decisions = await consume(kafka_bootstrap, h.topics.decisions, count=1)
        audit = await consume(kafka_bootstrap, h.topics.audit, count=3)
    for record in [*decisions, *audit]:
        assert planted.encode() not in record.value
        assert all(planted.encode() not in v for _, v in record.headers)
    assert planted not in caplog.text
