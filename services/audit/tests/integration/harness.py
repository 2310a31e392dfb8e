"""An audit service in-process on the real broker and a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from audit.app import AuditService, create_app
from audit.settings import AuditSettings, SigningSettings
from audit.signing import generate_private_key
from audit.tables import AuditRecord
from pydantic import SecretStr
from sqlalchemy import func, select

from agentbus.bus import BusSettings
from agentbus.http import ApiKeyEntry, HttpSettings
from agentbus.telemetry import Telemetry
from agentbus.testing import unique

PRIVATE_KEY = generate_private_key()
PEOPLE = {"ann": ("acme", ["auditor"]), "gil": ("globex", ["auditor"]), "bo": ("acme", [])}


def key_of(subject: str) -> str:
    """Each person's API key in these tests."""
    return f"key-{subject}-0123456789abcdef"


def settings_for(database_url: str, bootstrap: str, topic: str, **extra: object) -> AuditSettings:
    """Settings for one test: its own group, topic, database and signing key."""
    keys = [
        ApiKeyEntry(key=SecretStr(key_of(who)), tenant=tenant, subject=who, roles=roles)
        for who, (tenant, roles) in PEOPLE.items()
    ]
    return AuditSettings(
        bus=BusSettings(
            bootstrap_servers=bootstrap,
            consumer_group=unique("audit"),
            database_url=database_url,
            commit_interval_s=0.2,
            outbox_relay_interval_s=0.2,
        ),
        http=HttpSettings(api_keys=keys),
        signing=SigningSettings(private_key=SecretStr(PRIVATE_KEY), private_key_file=None),
        topic=topic,
        checkpoint_interval_s=3600,
        **extra,
    )


@asynccontextmanager
async def running(
    settings: AuditSettings, telemetry: Telemetry | None = None
) -> AsyncIterator[AuditService]:
    """Start the service (migrate, consume), stop it afterwards."""
    service = create_app(settings, telemetry=telemetry)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def stored(service: AuditService) -> int:
    """How many records the store holds, all tenants."""
    async with service.bus.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(AuditRecord))).scalar_one())
