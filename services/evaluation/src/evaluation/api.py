"""HTTP API: datasets, evaluations, the gate and its overrides, comparisons, AgentOps."""

# No `from __future__ import annotations`: FastAPI must see the local Admin alias.

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from agentbus.http import (
    ApiError,
    CurrentPrincipal,
    Principal,
    as_utc,
    not_found,
    require_roles,
)
from agentbus.storage import UnitOfWork, UnitOfWorkFactory
from contracts.types import Actor, ActorKind, ContentHash

from .agentops import figures
from .dataset import Dataset, DatasetError, Thresholds, parse_cases
from .evaluations import EvaluationError, Evaluations
from .gate import Gate
from .store import EvaluationRepository, OpsRunRepository
from .views import comparison_view, evaluation_view

__all__ = ["DatasetBody", "EvaluateBody", "FeedbackBody", "OverrideBody", "evaluation_router"]

Published = Callable[[Sequence[int]], Awaitable[None]]


class DatasetBody(BaseModel):
    """A dataset version: its cases as JSON Lines text, and thresholds."""

    workflow: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=128)
    thresholds: Thresholds = Thresholds()
    cases_jsonl: str = Field(min_length=1, max_length=5_000_000)


class EvaluateBody(BaseModel):
    """Evaluate workflow@version on a dataset (the workflow's only one by default)."""

    workflow: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    dataset: str | None = None


class OverrideBody(BaseModel):
    """An administrator lets this exact content hash through the gate."""

    workflow: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    content_hash: ContentHash
    reason: str = Field(min_length=3, max_length=2000)


class FeedbackBody(BaseModel):
    """An upstream system's verdict on a production run's outcome."""

    outcome: Literal["correct", "incorrect"]


def _actor(principal: Principal) -> Actor:
    kind = ActorKind.SERVICE if principal.kind == "service" else ActorKind.USER
    return Actor(kind=kind, id=principal.subject)


def evaluation_router(
    uows: UnitOfWorkFactory,
    evaluations: Evaluations,
    gate: Gate,
    published: Published,
    *,
    admin_role: str,
    list_limit: int,
) -> APIRouter:
    """Routes under /v1; every one authenticated and scoped to the caller's tenant."""
    router = APIRouter(prefix="/v1", tags=["evaluation"])
    Admin = Annotated[Principal, Depends(require_roles(admin_role))]  # noqa: N806 (a type alias)

    async def act(principal: Principal, work: Callable[[UnitOfWork], Awaitable[Any]]) -> Any:
        async with uows(principal.tenant_id) as uow:
            try:
                result = await work(uow)
                await uow.commit()
            except EvaluationError as exc:
                raise ApiError(exc.status, exc.code, exc.message) from exc
            if uow.published_ids:
                await published(uow.published_ids)
            return result

    @router.post("/datasets", status_code=201, summary="Add a dataset version")
    async def add_dataset(body: DatasetBody, principal: CurrentPrincipal) -> dict[str, Any]:
        try:
            dataset = Dataset(
                workflow=body.workflow,
                name=body.name,
                thresholds=body.thresholds,
                cases=parse_cases(body.cases_jsonl),
            )
        except (DatasetError, ValueError) as exc:
            raise ApiError(422, "dataset.invalid", str(exc)) from exc
        row = await act(
            principal, lambda uow: evaluations.add_dataset(uow, dataset, _actor(principal))
        )
        return {
            "workflow": row.workflow,
            "name": row.name,
            "version": row.version,
            "content_hash": row.content_hash,
            "cases": len(dataset.cases),
        }

    @router.post("/evaluations", status_code=202, summary="Run every case as an evaluation run")
    async def start(body: EvaluateBody, principal: CurrentPrincipal) -> dict[str, Any]:
        row = await act(
            principal,
            lambda uow: evaluations.start(
                uow, body.workflow, body.version, _actor(principal), dataset=body.dataset
            ),
        )
        return {"evaluation_id": row.id, "cases": row.cases, "status": row.status}

    @router.get("/evaluations", summary="Recent evaluations (of one version)")
    async def listing(
        principal: CurrentPrincipal, workflow: str | None = None, version: str | None = None
    ) -> list[dict[str, Any]]:
        async with uows(principal.tenant_id) as uow:
            repo = EvaluationRepository(uow)
            rows = (
                await repo.of_version(workflow, version)
                if workflow and version
                else await repo.recent(list_limit)
            )
            return [
                {
                    "evaluation_id": r.id,
                    "workflow": r.workflow,
                    "version": r.version,
                    "status": r.status,
                    "passed": r.passed,
                    "created_at": as_utc(r.created_at).isoformat(),
                }
                for r in rows[:list_limit]
            ]

    @router.get("/evaluations/{evaluation_id}", summary="An evaluation with its cases")
    async def one(evaluation_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
        async with uows(principal.tenant_id) as uow:
            row = await EvaluationRepository(uow).get(evaluation_id)
            if row is None:
                raise not_found("evaluation", evaluation_id)
            return await evaluation_view(uow, row)

    @router.get("/compare", summary="Two evaluations case by case, regressions first")
    async def compare(a: str, b: str, principal: CurrentPrincipal) -> dict[str, Any]:
        async with uows(principal.tenant_id) as uow:
            repo = EvaluationRepository(uow)
            first, second = await repo.get(a), await repo.get(b)
            if first is None or second is None:
                raise not_found("evaluation", a if first is None else b)
            return await comparison_view(uow, first, second)

    @router.get("/gate", summary="May workflow@version (content hash) be published?")
    async def check(
        workflow: str,
        version: str,
        content_hash: ContentHash,
        principal: CurrentPrincipal,
    ) -> dict[str, Any]:
        async with uows(principal.tenant_id) as uow:
            verdict = await gate.check(uow, workflow, version, content_hash)
            return {"passed": verdict.passed, "reason": verdict.reason, **verdict.details}

    @router.post("/gate/overrides", status_code=201, summary="Administrator override, audited")
    async def override(body: OverrideBody, principal: Admin) -> dict[str, Any]:
        row = await act(
            principal,
            lambda uow: gate.override(
                uow,
                body.workflow,
                body.version,
                body.content_hash,
                body.reason,
                _actor(principal),
            ),
        )
        return {"workflow": row.workflow, "version": row.version, "actor": row.actor}

    @router.get("/agentops", summary="Production figures of a workflow (version) over a window")
    async def agentops(
        workflow: str,
        principal: CurrentPrincipal,
        version: str | None = None,
        window_s: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        since = datetime.now(UTC) - timedelta(seconds=window_s) if window_s else None
        async with uows(principal.tenant_id) as uow:
            seen = await figures(uow, workflow, version, since)
        out = asdict(seen)
        out["cost_per_run_usd"] = (
            None if seen.cost_per_run_usd is None else str(seen.cost_per_run_usd)
        )
        return out

    @router.post("/runs/{run_id}/feedback", summary="Mark a production run correct or incorrect")
    async def feedback(
        run_id: str, body: FeedbackBody, principal: CurrentPrincipal
    ) -> dict[str, str]:
        async def mark(uow: UnitOfWork) -> None:
            repo = OpsRunRepository(uow)
            row = await repo.get(run_id)
            if row is None:
                raise EvaluationError("run.not_found", f"no run {run_id!r}", 404)
            row.feedback = body.outcome
            repo.add(row)
            evaluations.audit_feedback(uow, _actor(principal), run_id, body.outcome)

        await act(principal, mark)
        return {"run_id": run_id, "feedback": body.outcome}

    return router
