"""Composition root: the bus (consumer, timers), the webhook sender, the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from agentbus.bus import Bus
from agentbus.bus.background import BackgroundLoop
from agentbus.http import service_http_app
from agentbus.telemetry import Telemetry, configure_logging, setup_telemetry
from contracts.topics import topic

from . import __version__
from .api import approval_router
from .decisions import Decisions
from .handlers import Handlers
from .metrics import ApprovalMetrics
from .outcomes import Outcomes
from .settings import ApprovalSettings
from .webhooks import WebhookSender

__all__ = ["MIGRATIONS", "ApprovalService", "create_app", "main"]

REQUEST_TYPES = frozenset(topic("approval.requests").event_types)
MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"


@dataclass
class ApprovalService:
    """Everything one approval process runs; `http` is the ASGI app whose lifespan runs it."""

    settings: ApprovalSettings
    bus: Bus
    http: FastAPI
    webhooks: WebhookSender
    loops: tuple[BackgroundLoop, ...]

    async def start(self) -> None:
        """Migrate, connect, consume, fire timers (the bus), and start sending webhooks."""
        await self.bus.start()
        for loop in self.loops:
            loop.start()

    async def stop(self) -> None:
        """Stop the loops, then the bus (offsets committed, relay drained)."""
        for loop in self.loops:
            await loop.stop()
        await self.webhooks.close()
        await self.bus.stop()


def create_app(
    settings: ApprovalSettings, *, telemetry: Telemetry | None = None
) -> ApprovalService:
    """Build the approval service from settings; nothing connects until it starts."""
    bus = Bus(settings.bus, service="approval", telemetry=telemetry, migrations=[MIGRATIONS])
    meters = ApprovalMetrics.create(telemetry.meter_provider if telemetry else None)
    outcomes = Outcomes(
        webhook_tenants=frozenset(settings.webhooks.targets),
        expiry_warning=timedelta(seconds=settings.expiry_warning_s),
        requests_topic=settings.topics.requests,
        decisions_topic=settings.topics.decisions,
        audit_topic=settings.topics.audit,
        metrics=meters,
    )
    handlers = Handlers(outcomes)
    bus.consumer(
        settings.topics.requests,
        event_types=REQUEST_TYPES,
        reply_topic=settings.topics.decisions,
    )(handlers.on_request)

    sender = WebhookSender(bus.uow, settings.webhooks, metrics=meters)

    async def send_webhooks() -> None:
        await sender.send_due()

    # No targets, no deliveries: do not poll the table for nothing.
    loops = (
        (BackgroundLoop("approval-webhooks", send_webhooks, settings.webhooks.poll_interval_s),)
        if settings.webhooks.targets
        else ()
    )

    http = service_http_app(
        title="agentbus approval",
        version=__version__,
        settings=settings.http,
        bus=bus,
        # Late-bound: the service object is built with this app, just below.
        start=lambda: service.start(),
        stop=lambda: service.stop(),
    )
    http.include_router(
        approval_router(
            bus.uow,
            Decisions(outcomes),
            bus.relay.publish_committed,
            role=settings.approver_role,
            list_limit=settings.list_limit,
        )
    )
    service = ApprovalService(settings, bus, http, sender, loops)
    return service


def main() -> None:
    """Console script `approval`: serve (default) or act on requests through the API."""
    from .cli import cli

    cli()


def serve(settings: ApprovalSettings) -> None:
    """Run the service until SIGTERM."""
    from agentbus.http import run_service

    configure_logging("approval", settings.log_level)
    telemetry = setup_telemetry("approval", settings.telemetry)
    try:
        run_service(create_app(settings, telemetry=telemetry).http, settings.http)
    finally:
        telemetry.shutdown()
