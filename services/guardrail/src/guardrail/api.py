"""HTTP API: synchronous checks and token restores, tenant-scoped and audited."""

# No `from __future__ import annotations`: FastAPI must see the route-local dependencies.
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from agentbus.bus import OutboxRelay
from agentbus.guard import PolicyNotFoundError
from agentbus.guard.policies import SHARED_DIR
from agentbus.http import ApiError, Principal, current_principal, not_found, require_roles
from agentbus.storage import UnitOfWorkFactory
from contracts.events import Decision, Direction, Finding
from contracts.events.guardrail import PolicySelector

from .domain import contract_finding, decision_of, published_masked
from .handlers import Checker, user_actor
from .store import VaultRepository

__all__ = ["CheckBody", "CheckResult", "RestoreBody", "RestoreResult", "guardrail_router"]


class CheckBody(BaseModel):
    """Content to check, as a step would send it."""

    model_config = ConfigDict(extra="forbid")

    content: JsonValue = Field(description="Text or any JSON value")
    direction: Direction = Direction.INPUT
    policy: PolicySelector | None = Field(default=None, description="name or name@version")
    output_schema: dict[str, Any] | None = None


class CheckResult(BaseModel):
    """The verdict; findings carry positions and kinds, never the matched text."""

    check_id: str
    decision: Decision
    findings: list[Finding]
    masked_content: JsonValue | None = None
    policy_name: str
    policy_version: str
    reason: str | None = None


class PolicyView(BaseModel):
    """The policy version in force for the caller's tenant."""

    name: str
    version: str
    description: str
    shared: bool = Field(description="True when it is the shared default, not the tenant's own")
    reload_error: str | None = Field(
        default=None, description="Why the newest edit of the file was refused, if it was"
    )


class RestoreBody(BaseModel):
    """Masked content whose reversible tokens should be restored."""

    model_config = ConfigDict(extra="forbid")

    content: JsonValue


class RestoreResult(BaseModel):
    """The content with its tokens replaced by the original values."""

    content: JsonValue


def guardrail_router(
    checker: Checker,
    uow: UnitOfWorkFactory,
    relay: OutboxRelay,
    *,
    restore_role: str,
    check_role: str | None,
) -> APIRouter:
    """Routes under /v1/guardrail; every one authenticates and is scoped to its tenant."""
    router = APIRouter(prefix="/v1/guardrail", tags=["guardrail"])
    checker_dep = require_roles(check_role) if check_role else current_principal

    @router.post("/check", response_model=CheckResult)
    async def check(
        body: CheckBody, principal: Annotated[Principal, Depends(checker_dep)]
    ) -> CheckResult:
        """Check content against the caller's tenant policy (default or named)."""
        try:
            verdict = checker.evaluate(
                principal.tenant_id,
                body.content,
                policy=body.policy,
                direction=body.direction,
                output_schema=body.output_schema,
            )
        except PolicyNotFoundError:
            raise not_found("policy", body.policy or "default") from None
        check_id = str(uuid.uuid4())
        async with uow(principal.tenant_id) as unit:
            await VaultRepository(unit, checker.cipher).store(verdict.vault)
            checker.audit_check(
                unit,
                verdict,
                check_id,
                None,
                traceparent=None,
                actor=user_actor(principal.subject, principal.kind),
                direction=body.direction,
            )
            await unit.commit()
        await relay.publish_committed(unit.published_ids)
        return CheckResult(
            check_id=check_id,
            decision=decision_of(verdict.decision),
            findings=[contract_finding(f) for f in verdict.findings],
            masked_content=published_masked(verdict),
            policy_name=verdict.policy_name,
            policy_version=verdict.policy_version,
            reason=verdict.reason,
        )

    @router.get("/policies/{name}", response_model=PolicyView)
    async def policy(
        name: str, principal: Annotated[Principal, Depends(current_principal)]
    ) -> PolicyView:
        """Which version of a policy applies to the caller's tenant right now."""
        try:
            compiled = checker.policies.get(principal.tenant_id, name)
        except PolicyNotFoundError:
            raise not_found("policy", name) from None
        where = checker.policies.source_of(principal.tenant_id, name)
        return PolicyView(
            name=compiled.policy.name,
            version=compiled.policy.version,
            description=compiled.policy.description,
            shared=where is not None and where.parent.name == SHARED_DIR,
            reload_error=checker.policies.errors.get(where) if where else None,
        )

    @router.post("/restore", response_model=RestoreResult)
    async def restore(
        body: RestoreBody, principal: Annotated[Principal, Depends(require_roles(restore_role))]
    ) -> RestoreResult:
        """Replace reversible tokens by their values: own tenant, restore role, audited."""
        async with uow(principal.tenant_id) as unit:
            restored = await checker.restore(
                unit, body.content, user_actor(principal.subject, principal.kind)
            )
            await unit.commit()
        await relay.publish_committed(unit.published_ids)
        if restored.missing:
            # Unknown and another tenant's tokens look the same: 404, never 403.
            raise ApiError(404, "not_found", f"{len(restored.missing)} token(s) not found")
        return RestoreResult(content=restored.content)

    return router
