"""Signed webhooks to a real local receiver: retried after a 500, never blocking votes."""

from __future__ import annotations

from dataclasses import dataclass, field

from approval.settings import WebhookSettings, WebhookTarget
from approval.webhooks import SIGNATURE_HEADER, verify
from fastapi import FastAPI, Request, Response

from agentbus.http.testing import serving
from agentbus.testing import eventually

from .harness import TENANT, approval_request, running

SECRET = "whsec-test-0123456789"


@dataclass
class Receiver:
    """Answers 500 to the first `failures` posts, then 200; keeps what it got."""

    failures: int
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.calls.append((request.headers["X-Agentbus-Event"], body, dict(request.headers)))
            if len(self.calls) <= self.failures:
                return Response(status_code=500, content=b'{"error":"down"}')
            return Response(status_code=204)

        return app

    def delivered(self, kind: str) -> list[bytes]:
        """Bodies of `kind` that got a 2xx (the retried ones count once each try)."""
        return [
            body for i, (k, body, _) in enumerate(self.calls) if k == kind and i >= self.failures
        ]


async def test_signed_notifications_with_retry_after_500(
    kafka_bootstrap: str, sqlite_url: str
) -> None:
    receiver = Receiver(failures=2)
    async with serving(receiver.app()) as hook_url:
        webhooks = WebhookSettings(
            targets={TENANT: WebhookTarget(url=f"{hook_url}/hook", secret=SECRET)},
            initial_backoff_s=0.2,
            poll_interval_s=0.1,
        )
        async with running(
            kafka_bootstrap, sqlite_url, webhooks=webhooks, expiry_warning_s=1.0
        ) as h:
            request = approval_request(deadline_in_s=2.5, escalation_roles=["managers"])
            await h.send(request)
            approval = await h.approval_for(request.id)

            async def notified() -> bool:
                kinds = [k for k, _, _ in receiver.calls]
                return {"approval.requested", "approval.expiring", "approval.escalated"} <= set(
                    kinds
                )

            await eventually(notified, timeout_s=30, what="requested, expiring, escalated hooks")
            # The receiver failing never held the decision flow back.
            vote = await h.client.vote("frank", approval["id"])
            assert vote.json()["status"] == "approved"
            await eventually(
                lambda: _async(bool(receiver.delivered("approval.approved"))),
                what="approved hook",
            )

    kinds = [k for k, _, _ in receiver.calls]
    # The first delivery got a 500 and was retried with backoff until it succeeded; so was
    # whatever got the second 500. Deliveries are retried independently: a later
    # notification (expiring, 1.5 s in) may arrive before a retry of an earlier one.
    assert kinds[0] == "approval.requested"
    for failed in set(kinds[: receiver.failures]):
        assert receiver.delivered(failed), f"{failed} never delivered after its 500"
    assert kinds.count("approval.requested") >= 2
    for kind, body, headers in receiver.calls:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER.lower()]), kind
        assert not verify("wrong-secret", body, headers[SIGNATURE_HEADER.lower()])
        assert headers["x-agentbus-delivery"].startswith(approval["id"])
    assert b'"amount"' not in b"".join(body for _, body, _ in receiver.calls)


async def _async(value: bool) -> bool:
    return value
