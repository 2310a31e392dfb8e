"""HTTP API: list and read requests, approve, reject, delegate; thin over Decisions."""

# No `from __future__ import annotations`: FastAPI must see the local Approver alias.

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from agentbus.http import ApiError, Principal, not_found, require_roles
from agentbus.storage import UnitOfWork, UnitOfWorkFactory
from agentbus.storage.tables import utcnow
from agentbus.telemetry import bind_log_context

from .decisions import Decisions, NotFoundError, VoteResult
from .domain import ApprovalError, Choice, Voter
from .store import ApprovalRepository
from .views import ApprovalView, view_of

__all__ = ["DelegateBody", "VoteBody", "VoteResponse", "approval_router"]

Published = Callable[[Sequence[int]], Awaitable[None]]


class VoteBody(BaseModel):
    """An approve or reject: the payload hash the person reviewed, and a comment."""

    payload_sha256: str = Field(
        pattern=r"^sha256:[0-9a-f]{64}$", description="payload_sha256 of the request you reviewed"
    )
    comment: str | None = Field(default=None, max_length=2000)


class DelegateBody(BaseModel):
    """Hand your vote to another person."""

    to: str = Field(min_length=1, max_length=256, pattern=r"^\S+$", description="their subject")
    comment: str | None = Field(default=None, max_length=2000)


class VoteResponse(BaseModel):
    """The request after a vote."""

    approval_id: str
    status: str
    approvals: int
    rejections: int
    decided: bool


def approval_router(
    uow_factory: UnitOfWorkFactory,
    decisions: Decisions,
    published: Published,
    *,
    role: str,
    list_limit: int,
) -> APIRouter:
    """Routes under /v1/approvals; every one needs an authenticated caller holding `role`."""
    router = APIRouter(prefix="/v1/approvals", tags=["approvals"])
    Approver = Annotated[Principal, Depends(require_roles(role))]  # noqa: N806 (a type alias)

    async def run(
        principal: Principal, action: Callable[[UnitOfWork], Awaitable[object]]
    ) -> object:
        with bind_log_context(tenant_id=principal.tenant_id):
            return await _in_uow(principal, action)

    async def _in_uow(
        principal: Principal, action: Callable[[UnitOfWork], Awaitable[object]]
    ) -> object:
        async with uow_factory(principal.tenant_id) as uow:
            try:
                return await action(uow)
            except NotFoundError as exc:
                raise not_found("approval", str(exc)) from exc
            except ApprovalError as exc:
                raise ApiError(exc.status, exc.code, exc.message) from exc
            finally:
                # Relay what committed (a decision, or the audit record of a refusal).
                if uow.published_ids:
                    await published(uow.published_ids)

    @router.get("", summary="Pending requests, oldest first")
    async def list_pending(
        principal: Approver,
        run_id: str | None = None,
        role_name: Annotated[str | None, Query(alias="role")] = None,
        min_age_s: Annotated[float | None, Query(ge=0)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = list_limit,
    ) -> list[ApprovalView]:
        async with uow_factory(principal.tenant_id) as uow:
            older_than = utcnow() - timedelta(seconds=min_age_s) if min_age_s else None
            rows = await ApprovalRepository(uow).pending(
                run_id=run_id, role=role_name, older_than=older_than, limit=limit
            )
            return [view_of(r) for r in rows]

    @router.get("/{approval_id}", summary="One request with its payload, context and votes")
    async def get_one(approval_id: str, principal: Approver) -> ApprovalView:
        async with uow_factory(principal.tenant_id) as uow:
            repo = ApprovalRepository(uow)
            row = await repo.get(approval_id)
            if row is None:
                raise not_found("approval", approval_id)
            return view_of(row, await repo.votes(row.id), await repo.delegations(row.id), full=True)

    async def vote(
        approval_id: str, body: VoteBody, principal: Principal, choice: Choice
    ) -> VoteResponse:
        voter = Voter(principal.subject, principal.roles)

        async def act(uow: UnitOfWork) -> VoteResult:
            return await decisions.vote(
                uow,
                approval_id,
                voter,
                choice,
                seen_sha256=body.payload_sha256,
                comment=body.comment,
            )

        result = await run(principal, act)
        assert isinstance(result, VoteResult)
        return VoteResponse(
            approval_id=result.approval_id,
            status=result.status.value,
            approvals=result.approvals,
            rejections=result.rejections,
            decided=result.decided,
        )

    @router.post("/{approval_id}/approve", summary="Approve the payload you reviewed")
    async def approve(approval_id: str, body: VoteBody, principal: Approver) -> VoteResponse:
        return await vote(approval_id, body, principal, Choice.APPROVE)

    @router.post("/{approval_id}/reject", summary="Reject the request")
    async def reject(approval_id: str, body: VoteBody, principal: Approver) -> VoteResponse:
        return await vote(approval_id, body, principal, Choice.REJECT)

    @router.post("/{approval_id}/delegate", summary="Hand your vote to another person")
    async def delegate(approval_id: str, body: DelegateBody, principal: Approver) -> dict[str, str]:
        voter = Voter(principal.subject, principal.roles)

        async def act(uow: UnitOfWork) -> None:
            await decisions.delegate(uow, approval_id, voter, body.to, body.comment)

        await run(principal, act)
        return {"approval_id": approval_id, "delegate": body.to}

    return router
