"""Operator tasks over a trail: verify chains and checkpoints (store or export), export."""

from __future__ import annotations

from pathlib import Path

from agentbus.storage import UnitOfWorkFactory

from .chain import Checkpoint, Link, Problem, Verification, Walker
from .export import checkpoint_line, link_line, parse_lines
from .signing import CheckpointVerifier
from .store import AuditRepository, CheckpointRepository

__all__ = ["export_store", "store_tenants", "verify_export", "verify_store"]


async def store_tenants(uow: UnitOfWorkFactory) -> list[str]:
    """Every tenant that has a chain in the store."""
    async with uow("*") as work:
        return await AuditRepository(work).tenants()


async def verify_store(
    uow: UnitOfWorkFactory, tenant_id: str, trust: CheckpointVerifier
) -> Verification:
    """Walk `tenant_id`'s stored chain and check its checkpoints with `trust`."""
    async with uow(tenant_id) as work:
        marks = await CheckpointRepository(work).all()
        walker = Walker(tenant_id, {mark.seq for mark in marks})
        feed = walker.feed
        async for links in AuditRepository(work).links():
            if not all(feed(link) for link in links):
                break
        result = walker.finish(marks, trust)
        seq, head_hash = await AuditRepository(work).head()
    if result.ok and (seq, head_hash) != (result.head_seq, result.head_hash):
        # The head pointer is not trusted, but a mismatch means rows went missing at the end.
        result.problems.append(_head_problem(result, seq))
    return result


def _head_problem(result: Verification, head_seq: int) -> Problem:
    first = min(result.head_seq, head_seq) + 1
    message = f"the chain ends at seq {result.head_seq} but its head says seq {head_seq}"
    return Problem(first, "truncated", message)


def verify_export(
    path: Path, trust: CheckpointVerifier, tenant_id: str | None = None
) -> list[Verification]:
    """Verify every tenant's chain in an export (or only `tenant_id`'s)."""
    walkers: dict[str, Walker] = {}
    marks: dict[str, list[Checkpoint]] = {}
    with path.open("rb") as handle:
        for item in parse_lines(handle):
            if tenant_id is not None and item.tenant_id != tenant_id:
                continue
            if type(item) is Link:
                walker = walkers.get(item.tenant_id)
                if walker is None:
                    walker = walkers[item.tenant_id] = Walker(item.tenant_id)
                walker.feed(item)
            else:
                assert isinstance(item, Checkpoint)
                marks.setdefault(item.tenant_id, []).append(item)
    tenants = sorted(walkers.keys() | marks.keys())
    return [(walkers.get(t) or Walker(t)).finish(marks.get(t, []), trust) for t in tenants]


async def export_store(
    uow: UnitOfWorkFactory, path: Path, tenant_id: str | None = None
) -> dict[str, int]:
    """Write each tenant's chain (seq order, tenants sorted) and checkpoints to `path`."""
    tenants = [tenant_id] if tenant_id else await store_tenants(uow)
    counts: dict[str, int] = {}
    with path.open("wb") as handle:
        for tenant in tenants:
            async with uow(tenant) as work:
                lines: list[bytes] = []
                count = 0
                async for links in AuditRepository(work).links():
                    lines.extend(link_line(link) for link in links)
                    count += len(links)
                    if len(lines) >= 10_000:
                        handle.write(b"".join(lines))
                        lines.clear()
                lines.extend(checkpoint_line(m) for m in await CheckpointRepository(work).all())
                handle.write(b"".join(lines))
            counts[tenant] = count
    return counts
