"""HTTP route of shadow evaluations: replay recorded production runs on a draft version."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agentbus.http import ApiError, CurrentPrincipal
from agentbus.storage import UnitOfWorkFactory
from contracts.types import Actor, ActorKind

from .evaluations import EvaluationError, Evaluations
from .shadow import RecordedRuns, ShadowError, shadow_dataset

__all__ = ["ShadowBody", "shadow_router"]

Published = Callable[[Sequence[int]], Awaitable[None]]


class ShadowBody(BaseModel):
    """Evaluate `version` on recent production runs of `source_version`."""

    workflow: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64, description="the draft to try")
    source_version: str = Field(min_length=1, max_length=64, description="recorded runs of")
    limit: int = Field(default=20, ge=1, le=1000)
    compare: list[str] = Field(
        default_factory=list, description="JMESPath fields to compare; empty: the whole output"
    )


def shadow_router(
    uows: UnitOfWorkFactory,
    evaluations: Evaluations,
    recorded: RecordedRuns,
    published: Published,
    *,
    max_runs: int,
) -> APIRouter:
    """POST /v1/shadow: read recorded runs (no transaction open), then start the evaluation."""
    router = APIRouter(prefix="/v1", tags=["evaluation"])

    @router.post("/shadow", status_code=202, summary="Shadow-evaluate a draft on recorded runs")
    async def shadow(body: ShadowBody, principal: CurrentPrincipal) -> dict[str, Any]:
        tenant = principal.tenant_id
        try:
            runs = await recorded.runs(
                tenant, body.workflow, body.source_version, min(body.limit, max_runs)
            )
            tools = await recorded.tool_steps(tenant, body.workflow, body.version)
            dataset = shadow_dataset(body.workflow, body.source_version, runs, tools, body.compare)
        except ShadowError as exc:
            raise ApiError(409, "shadow.unavailable", str(exc)) from exc
        actor = Actor(
            kind=ActorKind.SERVICE if principal.kind == "service" else ActorKind.USER,
            id=principal.subject,
        )
        async with uows(tenant) as uow:
            try:
                stored = await evaluations.add_dataset(uow, dataset, actor)
                row = await evaluations.start(
                    uow, body.workflow, body.version, actor, dataset=stored.name
                )
            except EvaluationError as exc:
                raise ApiError(exc.status, exc.code, exc.message) from exc
            await uow.commit()
        if uow.published_ids:
            await published(uow.published_ids)
        return {"evaluation_id": row.id, "cases": row.cases, "status": row.status}

    return router
