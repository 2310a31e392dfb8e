"""What the service does with each audit record: append it to its tenant's chain."""

from __future__ import annotations

from typing import Any

from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope

from .store import AuditRepository

__all__ = ["append_record"]


async def append_record(envelope: Envelope[Any], uow: UnitOfWork) -> None:
    """Append a validated `AuditRecorded` to the chain, in the inbox's transaction."""
    await AuditRepository(uow).append(envelope)
