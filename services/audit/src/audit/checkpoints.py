"""Periodic checkpoints: sign every tenant's chain head that moved since the last one."""

from __future__ import annotations

import logging

from sqlmodel import col, select

from agentbus.storage import UnitOfWorkFactory

from .signing import CheckpointSigner
from .store import AuditRepository, CheckpointRepository
from .tables import ChainHead

__all__ = ["sign_heads"]

log = logging.getLogger("audit.checkpoints")


async def sign_heads(uow: UnitOfWorkFactory, signer: CheckpointSigner) -> int:
    """Sign each tenant's current head if it is newer than its last checkpoint."""
    async with uow.sessions() as session:
        tenants = list((await session.exec(select(col(ChainHead.tenant_id)))).all())
    signed = 0
    for tenant in tenants:
        async with uow(tenant) as work:
            marks = CheckpointRepository(work)
            seq, head_hash = await AuditRepository(work).head()
            if seq == 0 or seq <= await marks.latest_seq():
                continue
            as_of = await AuditRepository(work).time_of(seq)
            await marks.keep(signer.sign(tenant, seq, head_hash, as_of))
            await work.commit()
            signed += 1
    if signed:
        log.info("chain heads signed", extra={"fields": {"tenants": signed}})
    return signed
