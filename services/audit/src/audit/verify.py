"""Operator tasks over a trail: verify chains and checkpoints (store or export), export."""

from __future__ import annotations

from pathlib import Path

from agentbus.storage import UnitOfWorkFactory

from .chain import Checkpoint, Link, Problem, Verification, Walker
from .export import checkpoint_line, link_line, parse_lines
from .signing import CheckpointVerifier
from .store import AuditRepository, CheckpointRepository
from .verify_chunks import MIN_PARALLEL_BYTES, default_workers, verify_export_parallel

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
        # The head first, then the rows: a service appending meanwhile only adds rows after
        # the head read (each statement is its own snapshot), never a false alarm.
        head_seq, head_hash = await AuditRepository(work).head()
        marks = await CheckpointRepository(work).all()
        walker = Walker(tenant_id, {mark.seq for mark in marks} | {head_seq})
        feed = walker.feed
        async for links in AuditRepository(work).links():
            if not all(feed(link) for link in links):
                break
        result = walker.finish(marks, trust)
    if result.ok and result.head_seq < head_seq:
        message = f"the chain ends at seq {result.head_seq} but its head says seq {head_seq}"
        result.problems.append(Problem(result.head_seq + 1, "truncated", message))
    elif result.ok and head_seq and walker.hashes.get(head_seq) != head_hash:
        message = f"the head names another hash for seq {head_seq}: the chain was rewritten"
        signed = [mark.seq for mark in marks if mark.seq <= head_seq]
        result.problems.append(Problem(max(signed, default=0) + 1, "rewritten", message))
    return result


def verify_export(
    path: Path,
    trust: CheckpointVerifier,
    tenant_id: str | None = None,
    *,
    workers: int | None = None,
) -> list[Verification]:
    """Verify every tenant's chain in an export (or only `tenant_id`'s), on `workers` cores."""
    workers = default_workers() if workers is None else workers
    if workers > 1 and path.stat().st_size >= MIN_PARALLEL_BYTES:
        results = verify_export_parallel(path, trust, tenant_id, workers)
        if results is not None:
            return results
    # One process, link by link: also the path that names the first bad seq of a bad export.
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
                # Checkpoints before rows: each one then covers rows the export contains,
                # even while the service appends (each statement is its own snapshot).
                marks = await CheckpointRepository(work).all()
                lines: list[bytes] = []
                count = 0
                async for links in AuditRepository(work).links():
                    lines.extend(link_line(link) for link in links)
                    count += len(links)
                    if len(lines) >= 10_000:
                        handle.write(b"".join(lines))
                        lines.clear()
                lines.extend(checkpoint_line(mark) for mark in marks)
                handle.write(b"".join(lines))
            counts[tenant] = count
    return counts
