"""Bad input: poison records dead-lettered with a failed reply; bad HTTP is 4xx JSON."""

from __future__ import annotations

import json

from agentbus.testing import consume, produce
from contracts.events.request import RequestFailed

from .harness import approval_request, running, wait_events


async def test_invalid_event_goes_to_dlq_with_failed_reply(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        good = approval_request()
        _, value, headers = (
            good.id.encode(),
            json.dumps({"subject": "no step, no deadline"}).encode(),
            [
                ("ce_id", b"bad-1"),
                ("ce_source", b"planner"),
                ("ce_type", b"agentbus.approval.requested.v1"),
                ("ce_specversion", b"1.0"),
                ("ce_tenantid", b"acme"),
                ("ce_runid", b"run-bad"),
            ],
        )
        await produce(kafka_bootstrap, h.topics.requests, [(b"run-bad", value, headers)])
        await produce(kafka_bootstrap, h.topics.requests, [(b"k", b"not json at all", [])])
        await h.send(good)
        # The service keeps working after poison records.
        assert (await h.approval_for(good.id))["status"] == "pending"

        dead = await consume(kafka_bootstrap, h.topics.requests + ".dlq", count=2)
        causes = [dict((k, v.decode()) for k, v in r.headers) for r in dead]
        assert all(any("error" in k for k in c) for c in causes), causes
        replies = await wait_events(kafka_bootstrap, h.topics.decisions, 1)
        failed = [e.data for e in replies if isinstance(e.data, RequestFailed)]
        assert [f.request_id for f in failed] == ["bad-1"]


async def test_invalid_http_requests_are_json_4xx(kafka_bootstrap: str, sqlite_url: str) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        request = approval_request()
        await h.send(request)
        approval = await h.approval_for(request.id)
        path = f"/v1/approvals/{approval['id']}"

        bad_hash = await h.client.post("bob", f"{path}/approve", {"payload_sha256": "md5:x"})
        assert bad_hash.status_code == 422
        assert bad_hash.json()["code"] == "request.invalid"
        assert bad_hash.json()["message"].startswith("body.payload_sha256")

        missing = await h.client.post("bob", f"{path}/delegate", {})
        assert missing.status_code == 422
        assert "body.to" in missing.json()["message"]

        unknown = await h.client.get("bob", "/v1/approvals/apr_nope")
        assert unknown.status_code == 404
        assert unknown.json() == {"code": "not_found", "message": "approval 'apr_nope' not found"}

        anonymous = await h.client.http.get("/v1/approvals")
        assert anonymous.status_code == 401
        assert anonymous.json()["code"] == "auth.missing"

        ready = await h.client.http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"broker": "ok", "database": "ok"}
        assert (
            "/v1/approvals/{approval_id}/approve"
            in (await h.client.http.get("/openapi.json")).json()["paths"]
        )
