"""HTTP API: query the trail, a run's compliance report, the caller's chain verification.

Every route needs the `auditor` role and sees the caller's tenant only; each read is
itself audited (an `audit.read` record through the outbox).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, Field

from agentbus.bus import OutboxRelay
from agentbus.http import ApiError, Principal, UtcDatetime, not_found, require_roles
from agentbus.storage import UnitOfWorkFactory
from contracts.audit import record
from contracts.types import Actor, ActorKind

from .html import render_report
from .report import build_report
from .signing import CheckpointVerifier
from .store import AuditRepository, QueryFilter
from .tables import AuditRecord
from .verify import verify_store

__all__ = ["AuditPage", "RecordView", "audit_router"]

AUDITOR = "auditor"
_ACTION = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
Caller = Annotated[Principal, Depends(require_roles(AUDITOR))]


class RecordView(BaseModel):
    """One stored record: its chain position, hashes and the hashed entry itself."""

    seq: int
    event_id: str
    run_id: str | None
    step_id: str | None
    action: str
    outcome: str
    occurred_at: UtcDatetime
    prev_hash: str
    hash: str
    entry: dict[str, Any] = Field(description="The canonical entry the hash covers")


class AuditPage(BaseModel):
    """A page of records in chain order; pass `next_cursor` back as `cursor` for more."""

    items: list[RecordView]
    next_cursor: str | None


class VerificationView(BaseModel):
    """The caller tenant's chain check."""

    ok: bool
    records: int
    head_seq: int
    head_hash: str
    checkpoints: int
    first_bad_seq: int | None
    problems: list[str]


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("seq:"):
            raise ValueError(text)
        return int(text[4:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(422, "request.invalid", "cursor: not a cursor this API returned") from None


def _view(row: AuditRecord) -> RecordView:
    return RecordView(
        seq=row.seq,
        event_id=row.event_id,
        run_id=row.run_id,
        step_id=row.step_id,
        action=row.action,
        outcome=row.outcome,
        occurred_at=row.occurred_at,
        prev_hash=row.prev_hash,
        hash=row.hash,
        entry=orjson.loads(row.body),
    )


def audit_router(
    uow: UnitOfWorkFactory,
    relay: OutboxRelay,
    trust: CheckpointVerifier,
    *,
    page_max: int,
    audit_topic: str,
) -> APIRouter:
    """The `/v1/audit` routes."""
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    async def audited(principal: Principal, resource: str, details: dict[str, Any]) -> None:
        # Reading the trail is itself an auditable act; no run id, so the read is never
        # part of the run's own report.
        async with uow(principal.tenant_id) as unit:
            unit.publish(
                record(
                    source="audit",
                    tenant_id=principal.tenant_id,
                    actor=Actor(kind=ActorKind(principal.kind), id=principal.subject),
                    action="audit.read",
                    resource_type="audit_trail",
                    resource_id=resource,
                    outcome="succeeded",
                    details=details,
                ),
                topic=audit_topic,
            )
            await unit.commit()
        await relay.publish_committed(unit.published_ids)

    @router.get("", summary="Records of the caller's tenant, filtered, in chain order")
    async def query(
        principal: Caller,
        run_id: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
        action: Annotated[str | None, Query(pattern=_ACTION, max_length=128)] = None,
        since: Annotated[AwareDatetime | None, Query(description="occurred_at >= since")] = None,
        until: Annotated[AwareDatetime | None, Query(description="occurred_at < until")] = None,
        limit: Annotated[int, Query(ge=1, description="page size, at most the server's max")] = 100,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> AuditPage:
        if limit > page_max:
            raise ApiError(422, "request.invalid", f"limit: at most {page_max}")
        where = QueryFilter(run_id, action, since, until, _after(cursor), limit)
        async with uow(principal.tenant_id) as unit:
            # Read inside the transaction: its end expires the loaded rows.
            items = [_view(row) for row in await AuditRepository(unit).page(where)]
        next_cursor = _cursor(items[-1].seq) if len(items) == limit else None
        await audited(principal, "query", {"run_id": run_id, "action": action, "n": len(items)})
        return AuditPage(items=items, next_cursor=next_cursor)

    async def run_report(principal: Principal, run_id: str) -> dict[str, Any]:
        async with uow(principal.tenant_id) as unit:
            rows = await AuditRepository(unit).for_run(run_id)
            entries = [(row.seq, row.hash, orjson.loads(row.body)) for row in rows]
        if not entries:
            raise not_found("run", run_id)
        await audited(principal, f"report:{run_id}", {"run_id": run_id})
        return build_report(principal.tenant_id, run_id, entries)

    @router.get("/runs/{run_id}/report", summary="Compliance report of a run (JSON)")
    async def report_json(principal: Caller, run_id: str) -> dict[str, Any]:
        return await run_report(principal, run_id)

    @router.get(
        "/runs/{run_id}/report.html",
        summary="Compliance report of a run (self-contained HTML)",
        response_class=HTMLResponse,
    )
    async def report_html(principal: Caller, run_id: str) -> HTMLResponse:
        return HTMLResponse(render_report(await run_report(principal, run_id)))

    @router.get("/verify", summary="Verify the caller tenant's chain and checkpoints")
    async def verify(principal: Caller) -> VerificationView:
        result = await verify_store(uow, principal.tenant_id, trust)
        return VerificationView(
            ok=result.ok,
            records=result.records,
            head_seq=result.head_seq,
            head_hash=result.head_hash,
            checkpoints=result.checkpoints,
            first_bad_seq=result.first_bad_seq,
            problems=[p.message for p in result.problems],
        )

    return router
