"""Composition root: policies, the guard engine, the bus consumer and the HTTP API."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from opentelemetry import metrics

from agentbus.bus import Bus
from agentbus.guard import Guard, PolicyError, PolicyStore
from agentbus.http import service_http_app
from agentbus.telemetry import Telemetry, configure_logging, setup_telemetry

from . import __version__
from .api import guardrail_router
from .consumers import register_consumers
from .handlers import Checker
from .settings import DEV_VAULT_KEY, GuardrailSettings
from .vault import VaultCipher

__all__ = ["MIGRATIONS", "GuardrailService", "create_app", "main"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"
log = logging.getLogger("guardrail")


@dataclass
class GuardrailService:
    """Everything one guardrail process runs; `http` is the ASGI app whose lifespan runs it."""

    settings: GuardrailSettings
    bus: Bus
    http: FastAPI
    checker: Checker

    async def start(self) -> None:
        """Validate every policy file, migrate, connect and consume."""
        self.checker.policies.validate_all()
        if self.settings.vault_master_key.get_secret_value() == DEV_VAULT_KEY:
            log.warning("GUARDRAIL_VAULT_MASTER_KEY is the development key; set a real one")
        await self.bus.start()

    async def stop(self) -> None:
        """Stop the bus (offsets committed, relay drained)."""
        await self.bus.stop()


def create_app(
    settings: GuardrailSettings, *, telemetry: Telemetry | None = None, guard: Guard | None = None
) -> GuardrailService:
    """Build the guardrail from settings; nothing connects until it starts."""
    bus = Bus(settings.bus, service="guardrail", telemetry=telemetry, migrations=[MIGRATIONS])
    provider = telemetry.meter_provider if telemetry else metrics.get_meter_provider()
    checker = Checker(
        guard=guard or Guard(),
        policies=PolicyStore(
            settings.policy_dir, check_interval_s=settings.policy_check_interval_s
        ),
        cipher=VaultCipher(settings.vault_master_key.get_secret_value().encode()),
        verdicts_topic=settings.topics.verdicts,
        audit_topic=settings.topics.audit,
        meter=provider.get_meter("guardrail"),
    )
    register_consumers(bus, checker, settings.topics)

    http = service_http_app(
        title="agentbus guardrail",
        version=__version__,
        settings=settings.http,
        bus=bus,
        # Late-bound: the service object is built with this app, just below.
        start=lambda: service.start(),
        stop=lambda: service.stop(),
    )
    http.include_router(
        guardrail_router(
            checker,
            bus.uow,
            bus.relay,
            restore_role=settings.restore_role,
            check_role=settings.check_role,
        )
    )
    service = GuardrailService(settings, bus, http, checker)
    return service


def main(argv: list[str] | None = None) -> None:
    """Console script `guardrail`: serve (default) or `validate-policies`."""
    parser = argparse.ArgumentParser(prog="guardrail", description=__doc__)
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "validate-policies"]
    )
    args = parser.parse_args(argv)
    settings = GuardrailSettings()
    if args.command == "validate-policies":
        try:
            policies = PolicyStore(settings.policy_dir).validate_all()
        except PolicyError as exc:
            print(exc, file=sys.stderr)
            raise SystemExit(1) from None
        for policy in policies:
            print(f"ok {policy.ref}")
        return
    from agentbus.http import run_service

    configure_logging("guardrail", settings.log_level)
    telemetry = setup_telemetry("guardrail", settings.telemetry)
    try:
        run_service(create_app(settings, telemetry=telemetry).http, settings.http)
    finally:
        telemetry.shutdown()
