"""Composition root: the bus consumer, the checkpoint loop and the HTTP API of one process."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from opentelemetry import metrics

from agentbus.bus import Bus
from agentbus.bus.background import BackgroundLoop
from agentbus.http import service_http_app
from agentbus.telemetry import Telemetry

from . import __version__
from .api import audit_router
from .checkpoints import sign_heads
from .consumers import register_consumers
from .migrations import VERSIONS
from .settings import AuditSettings, SigningSettings
from .signing import CheckpointSigner, CheckpointVerifier, generate_private_key, load_private_key

__all__ = ["AuditService", "create_app", "load_signer", "main"]

log = logging.getLogger("audit")


def load_signer(settings: SigningSettings) -> CheckpointSigner:
    """The checkpoint signer from settings; a development key file is created if allowed."""
    if settings.private_key is not None and settings.private_key.get_secret_value().strip():
        return CheckpointSigner(load_private_key(settings.private_key.get_secret_value()))
    path = settings.private_key_file
    if path is None:
        raise SystemExit("no signing key: set AUDIT_SIGNING__PRIVATE_KEY (audit keygen)")
    if not path.exists():
        if not settings.create_missing:
            raise SystemExit(
                f"no signing key: set AUDIT_SIGNING__PRIVATE_KEY (audit keygen) or create {path}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        if _create_key_file(path):
            log.warning(
                "created a new checkpoint signing key", extra={"fields": {"path": str(path)}}
            )
    return CheckpointSigner(load_private_key(path.read_text()))


def _create_key_file(path: Path) -> bool:
    """Put a new key at `path` whole or not at all; False if another process got there first.

    Replicas started together share the file: one that found it half-written would fail to
    start, so the key is written to a private temporary file and then linked into place
    (atomic, and refused when the path exists).
    """
    # mkstemp: 0600 from the start, the seed is never readable by anyone else.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(generate_private_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


@dataclass
class AuditService:
    """Everything one audit process runs; `http`'s lifespan starts and stops it."""

    settings: AuditSettings
    bus: Bus
    http: FastAPI
    signer: CheckpointSigner
    checkpointer: BackgroundLoop

    async def start(self) -> None:
        """Migrate, connect, consume, and sign chain heads periodically."""
        await self.bus.start()
        self.checkpointer.start()

    async def stop(self) -> None:
        """Sign the final heads, then stop the bus (offsets committed, relay drained)."""
        await self.checkpointer.stop()
        await self.bus.stop()

    async def checkpoint(self) -> int:
        """Sign every chain head that moved since its last checkpoint."""
        return await sign_heads(self.bus.uow, self.signer)


def create_app(settings: AuditSettings, *, telemetry: Telemetry | None = None) -> AuditService:
    """Build the audit service from settings; nothing connects until it starts."""
    bus = Bus(settings.bus, service="audit", telemetry=telemetry, migrations=[VERSIONS])
    provider = telemetry.meter_provider if telemetry else metrics.get_meter_provider()
    meter = provider.get_meter("audit")
    register_consumers(bus, settings.topic, meter)
    signer = load_signer(settings.signing)
    signed = meter.create_counter(
        "audit.checkpoints.signed", unit="{checkpoint}", description="chain heads signed"
    )

    async def checkpoint() -> None:
        signed.add(await sign_heads(bus.uow, signer))

    checkpointer = BackgroundLoop("audit-checkpoints", checkpoint, settings.checkpoint_interval_s)

    http = service_http_app(
        title="agentbus audit",
        version=__version__,
        settings=settings.http,
        bus=bus,
        # Late-bound: the service object is built with this app, just below.
        start=lambda: service.start(),
        stop=lambda: service.stop(),
    )
    trust = CheckpointVerifier(signer.public_key)
    http.include_router(
        audit_router(
            bus.uow,
            bus.relay,
            trust,
            page_max=settings.page_limit_max,
            audit_topic=settings.topic,
        )
    )
    service = AuditService(settings, bus, http, signer, checkpointer)
    return service


def main() -> None:
    """Console script `audit`: `serve` (the default), `verify`, `replay`, `report`, ..."""
    from .cli import app

    app()
