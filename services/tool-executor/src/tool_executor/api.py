"""HTTP API: the tools a tenant sees, and its grants (changed by admins, audited)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from agentbus.http import CurrentPrincipal, Principal, current_principal, not_found, require_roles
from agentbus.storage import UnitOfWorkFactory
from contracts.audit import record
from contracts.events.audit import ToolUse
from contracts.types import Actor, ActorKind

from .domain import Grant, ToolDefinition
from .repositories import DefinitionRepository, GrantRepository

__all__ = ["ADMIN_ROLE", "GrantBody", "ToolSummary", "api_router"]

ADMIN_ROLE = "tool-admin"
ToolName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", max_length=128)]
AdminPrincipal = Annotated[Principal, Depends(require_roles(ADMIN_ROLE))]


class ToolSummary(BaseModel):
    """One version of a tool as listed."""

    name: str
    version: str
    description: str
    side_effect: str
    scopes: list[str]
    timeout_s: float
    idempotent: bool
    needs_approval: bool
    granted: bool


class GrantBody(BaseModel):
    """A grant as sent by an admin; the tool comes from the path."""

    scopes: list[str] = Field(default_factory=list, max_length=50)
    roles: list[str] = Field(default_factory=list, max_length=50)
    hosts: list[str] = Field(default_factory=list, max_length=200)
    allowed_networks: list[str] = Field(default_factory=list, max_length=50)


def _summary(d: ToolDefinition, granted: set[str]) -> ToolSummary:
    return ToolSummary(
        name=d.name,
        version=d.version,
        description=d.description,
        side_effect=d.side_effect.value,
        scopes=d.scopes,
        timeout_s=d.timeout_s,
        idempotent=d.idempotent,
        needs_approval=d.needs_approval,
        granted=d.name in granted,
    )


def api_router(uow: UnitOfWorkFactory, on_change: Callable[[], None] = lambda: None) -> APIRouter:
    """Routes under /v1; every one authenticates and sees only the caller's tenant.

    `on_change` runs after a grant changed (the executor drops what it cached).
    """
    router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])

    @router.get("/tools", response_model=list[ToolSummary], tags=["tools"])
    async def list_tools(principal: CurrentPrincipal) -> list[ToolSummary]:
        """Every tool version this tenant can see, with whether it holds a grant."""
        async with uow(principal.tenant_id) as unit:
            definitions = await DefinitionRepository(unit).visible()
            granted = {g.tool for g in await GrantRepository(unit).all()}
        return [_summary(d, granted) for d in definitions]

    @router.get("/tools/{name}", response_model=list[ToolDefinition], tags=["tools"])
    async def get_tool(name: ToolName, principal: CurrentPrincipal) -> list[ToolDefinition]:
        """Every version of one tool, with its schemas."""
        async with uow(principal.tenant_id) as unit:
            versions = await DefinitionRepository(unit).visible(name)
        if not versions:
            raise not_found("tool", name)
        return versions

    @router.get("/grants", response_model=list[Grant], tags=["grants"])
    async def list_grants(principal: CurrentPrincipal) -> list[Grant]:
        """This tenant's grants."""
        async with uow(principal.tenant_id) as unit:
            return await GrantRepository(unit).all()

    @router.put("/grants/{name}", response_model=Grant, tags=["grants"])
    async def put_grant(name: ToolName, body: GrantBody, principal: AdminPrincipal) -> Grant:
        """Grant (or change the grant of) a tool this tenant can see."""
        grant = Grant(tool=name, **body.model_dump())
        async with uow(principal.tenant_id) as unit:
            if not await DefinitionRepository(unit).visible(name):
                raise not_found("tool", name)
            await GrantRepository(unit).put(grant)
            unit.publish(_audit(principal, "tool.grant", name, grant.model_dump()))
            await unit.commit()
        on_change()
        return grant

    @router.delete("/grants/{name}", status_code=204, tags=["grants"])
    async def revoke_grant(name: ToolName, principal: AdminPrincipal) -> Response:
        """Revoke the tenant's grant of a tool."""
        async with uow(principal.tenant_id) as unit:
            if not await GrantRepository(unit).revoke(name):
                raise not_found("grant", name)
            unit.publish(_audit(principal, "tool.revoke", name, {}))
            await unit.commit()
        on_change()
        return Response(status_code=204)

    return router


def _audit(principal: Principal, action: str, tool: str, details: dict[str, Any]) -> Any:
    kind = ActorKind.USER if principal.kind == "user" else ActorKind.SERVICE
    return record(
        source="tool-executor",
        tenant_id=principal.tenant_id,
        actor=Actor(kind=kind, id=principal.subject),
        action=action,
        resource_type="grant",
        resource_id=tool,
        outcome="succeeded",
        tool=ToolUse(name=tool),
        details=details,
    )
