"""Webhook sender: signed (HMAC-SHA256) POSTs from the delivery table, retried with backoff.

Deliveries are rows written in the same transaction as the change they announce; this
loop sends them later, so a slow or failing receiver never delays a decision.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from agentbus.storage import UnitOfWorkFactory
from agentbus.storage.tables import utcnow

from .metrics import ApprovalMetrics
from .settings import WebhookSettings
from .tables import WebhookDelivery

__all__ = ["SIGNATURE_HEADER", "WebhookSender", "sign", "verify"]

log = logging.getLogger("approval.webhooks")
SIGNATURE_HEADER = "X-Agentbus-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """`t=<unix>,v1=<hex hmac-sha256 of "<unix>.<body>">`: the timestamp defeats replays."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse old timestamps."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


class WebhookSender:
    """Sends due deliveries; replicas share the table through a lease on each row."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        settings: WebhookSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: ApprovalMetrics | None = None,
    ) -> None:
        self.sessions = uow_factory.sessions
        self.metrics = metrics or ApprovalMetrics.create()
        self.settings = settings
        self.client = httpx.AsyncClient(timeout=settings.timeout_s, transport=transport)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    async def send_due(self) -> int:
        """Send every due delivery this process can claim; returns how many it attempted."""
        attempted = 0
        for delivery_id in await self._claim():
            await self._send(delivery_id)
            attempted += 1
        return attempted

    async def _claim(self) -> list[int]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self.settings.lease_s)
        async with self.sessions() as session:
            ids = (
                await session.exec(
                    select(WebhookDelivery.id)
                    .where(
                        col(WebhookDelivery.delivered_at).is_(None),
                        col(WebhookDelivery.given_up_at).is_(None),
                        col(WebhookDelivery.next_attempt_at) <= now,
                    )
                    .order_by(col(WebhookDelivery.next_attempt_at))
                    .limit(self.settings.batch_size)
                )
            ).all()
            claimed: list[int] = []
            for delivery_id in ids:
                # Moving next_attempt_at forward is the lease: another replica's claim of
                # the same row now matches nothing until the lease runs out.
                result = await session.exec(
                    update(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.id) == delivery_id,
                        col(WebhookDelivery.delivered_at).is_(None),
                        col(WebhookDelivery.next_attempt_at) <= now,
                    )
                    .values(next_attempt_at=lease_until)
                )
                if result.rowcount == 1 and delivery_id is not None:
                    claimed.append(delivery_id)
            await session.commit()
        return claimed

    async def _send(self, delivery_id: int) -> None:
        async with self.sessions() as session:
            row = await session.get(WebhookDelivery, delivery_id)
            if row is None:
                return
            tenant, body, attempts = row.tenant_id, row.body, row.attempts
        target = self.settings.targets.get(tenant)
        error: str | None = "no webhook configured for the tenant"
        if target is not None:
            signature = sign(target.secret.get_secret_value(), body, int(time.time()))
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature,
                "X-Agentbus-Delivery": row.event_id,
                "X-Agentbus-Event": row.kind,
            }
            try:
                response = await self.client.post(target.url, content=body, headers=headers)
                error = None if response.is_success else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
        self.metrics.webhooks.add(
            1, {"tenant": tenant, "result": "ok" if error is None else "failed"}
        )
        await self._settle(delivery_id, attempts + 1, error)

    async def _settle(self, delivery_id: int, attempts: int, error: str | None) -> None:
        now = utcnow()
        values: dict[str, object] = {"attempts": attempts, "last_error": error}
        if error is None:
            values["delivered_at"] = now
        elif attempts >= self.settings.max_attempts:
            values["given_up_at"] = now
            log.warning(
                "webhook given up",
                extra={"fields": {"delivery": delivery_id, "attempts": attempts, "error": error}},
            )
        else:
            backoff = min(
                self.settings.max_backoff_s, self.settings.initial_backoff_s * 2 ** (attempts - 1)
            )
            values["next_attempt_at"] = now + timedelta(seconds=backoff * random.uniform(0.8, 1.2))
        async with self.sessions() as session:
            await session.exec(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == delivery_id)
                .values(**values)
            )
            await session.commit()
