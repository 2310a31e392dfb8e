"""Alert webhooks: each raised or resolved alert POSTed, HMAC-signed, to its tenant's URL."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from agentbus.bus import IoContext, TransientError
from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope
from contracts.events.evaluation import AlertRaised, AlertResolved

from .settings import WebhookTarget

__all__ = ["SIGNATURE_HEADER", "AlertWebhooks", "Delivery", "sign", "verify"]

SIGNATURE_HEADER = "X-Agentbus-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """`t=<unix>,v1=<hex hmac-sha256 of "<unix>.<body>">`: the timestamp defeats replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse old timestamps."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


@dataclass(frozen=True)
class Delivery:
    """One alert to send."""

    target: WebhookTarget
    body: bytes


class AlertWebhooks:
    """The evaluations.events I/O handler: deliver alerts; other events pass through."""

    def __init__(self, targets: Mapping[str, WebhookTarget], timeout_s: float) -> None:
        self.targets = dict(targets)
        self.timeout_s = timeout_s

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> Delivery | None:
        """The delivery for an alert of a tenant that has a target."""
        target = self.targets.get(envelope.tenantid)
        if target is None or not isinstance(envelope.data, AlertRaised | AlertResolved):
            return None
        body = {
            "id": envelope.id,
            "type": envelope.type,
            "tenant_id": envelope.tenantid,
            "data": envelope.data.model_dump(mode="json"),
        }
        return Delivery(target, json.dumps(body, sort_keys=True).encode())

    async def perform(self, delivery: Delivery | None, ctx: IoContext) -> None:
        """POST it; 5xx, 429 and connection errors are retried by the bus."""
        if delivery is None:
            return
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(
                delivery.target.secret.get_secret_value(), delivery.body, int(time.time())
            ),
            "Idempotency-Key": ctx.idempotency_key,
        }
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            try:
                response = await client.post(
                    delivery.target.url, content=delivery.body, headers=headers
                )
            except httpx.TransportError as exc:
                raise TransientError(f"webhook unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"webhook answered {response.status_code}")

    async def record(self, envelope: Envelope[Any], result: None, uow: UnitOfWork) -> None:
        """Nothing to store: the inbox entry marks the alert delivered."""
