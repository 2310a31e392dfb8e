"""The planner's HTTP routes: tasks, runs and definitions; thin, tenant-scoped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Response

from agentbus.bus import Bus
from agentbus.http import ApiError, CurrentPrincipal, Principal, current_principal, not_found
from agentbus.storage import UnitOfWork
from contracts.envelope import new_envelope
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, ActorKind

from .definition import WorkflowDefinition
from .drafting import Drafter
from .handlers import RunHandlers, TaskRejectedError, run_id_for
from .lifecycle import DefinitionService
from .runner import SOURCE, Topics
from .state import RunState
from .store import DefinitionRepository, DraftJobRepository, RunRepository
from .tables import DefinitionRow
from .validation import DefinitionError
from .versions import Action, LifecycleError, diff
from .views import (
    CancelBody,
    DefinitionBody,
    DefinitionView,
    DraftBody,
    DraftJobView,
    RunSummary,
    RunView,
    TaskAccepted,
    TaskBody,
)

__all__ = ["REVIEWER_ROLE", "PlannerApi", "install_routes"]

REVIEWER_ROLE = "reviewer"
_STATUS = {"workflow.not_found": 404, "workflow.not_published": 409, "task.input_invalid": 422}


@dataclass
class PlannerApi:
    """What the routes need: the bus (transactions, publishing) and the use cases."""

    bus: Bus
    topics: Topics
    runs: RunHandlers
    definitions: DefinitionService
    drafter: Drafter
    list_limit: int

    @asynccontextmanager
    async def unit(self, principal: Principal) -> AsyncIterator[UnitOfWork]:
        """A transaction of the caller's tenant; its outbox is relayed right after commit."""
        async with self.bus.uow(principal.tenant_id) as uow:
            yield uow
            await uow.commit()
        if uow.published_ids:
            await self.bus.relay.publish_committed(uow.published_ids)


def _actor(principal: Principal) -> Actor:
    kind = ActorKind.SERVICE if principal.kind == "service" else ActorKind.USER
    return Actor(kind=kind, id=principal.subject)


def install_routes(app: FastAPI, api: PlannerApi) -> None:
    """Add the authenticated /v1 routes to `app`."""
    router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])

    @router.post("/tasks", status_code=202, response_model=TaskAccepted)
    async def submit_task(body: TaskBody, principal: CurrentPrincipal) -> TaskAccepted:
        async with api.bus.uow(principal.tenant_id) as uow:
            try:
                definition, _ = await api.runs.resolve(
                    uow, body.workflow, body.workflow_version, body.input
                )
            except TaskRejectedError as exc:
                raise ApiError(_STATUS.get(exc.code, 422), exc.code, exc.message) from exc
        task = TaskSubmitted(
            task_id=body.task_id,
            workflow=body.workflow,
            workflow_version=body.workflow_version,
            input=body.input,
            correlation_id=body.correlation_id,
            requested_by=_actor(principal),
        )
        envelope = new_envelope(task, source=SOURCE, tenant_id=principal.tenant_id)
        await api.bus.publish(envelope, topic=api.topics("tasks.submitted"))
        return TaskAccepted(
            task_id=body.task_id,
            run_id=run_id_for(principal.tenant_id, body.task_id),
            workflow=definition.name,
            workflow_version=definition.version,
        )

    @router.get("/runs", response_model=list[RunSummary])
    async def list_runs(
        principal: CurrentPrincipal,
        workflow: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[RunSummary]:
        async with api.bus.uow(principal.tenant_id) as uow:
            rows = await RunRepository(uow).listing(
                workflow=workflow, status=status, limit=min(limit, api.list_limit), offset=offset
            )
            return [RunSummary.of(r) for r in rows]

    @router.get("/runs/{run_id}", response_model=RunView)
    async def get_run(run_id: str, principal: CurrentPrincipal) -> RunView:
        async with api.bus.uow(principal.tenant_id) as uow:
            row = await RunRepository(uow).get(run_id)
            if row is None:
                raise not_found("run", run_id)
            return RunView.of(RunState.model_validate(row.state))

    @router.post("/runs/{run_id}/cancel", response_model=RunView)
    async def cancel_run(run_id: str, body: CancelBody, principal: CurrentPrincipal) -> RunView:
        async with api.unit(principal) as uow:
            found = await api.runs.cancel(
                uow, task_id=None, run_id=run_id, reason=body.reason, by=_actor(principal)
            )
            if not found:
                raise not_found("run", run_id)
            # The run as this transaction left it (its row is written at commit).
            state = await api.runs.driver.locate(uow, run_id=run_id, task_id=None)
            assert state is not None
            view = RunView.of(state)
        return view

    @router.post("/definitions", status_code=201, response_model=DefinitionView)
    async def create_definition(
        body: DefinitionBody, principal: CurrentPrincipal
    ) -> DefinitionView:
        try:
            async with api.unit(principal) as uow:
                row = await api.definitions.create_draft(uow, body.source, _actor(principal))
                view = DefinitionView.of(row)
        except DefinitionError as exc:
            issues = [{"step": i.step, "field": i.field, "message": i.message} for i in exc.issues]
            raise ApiError(422, "workflow.invalid", str(exc), issues) from exc
        except LifecycleError as exc:
            raise ApiError(409, exc.code, str(exc)) from exc
        return view

    @router.get("/definitions", response_model=list[DefinitionView])
    async def list_definitions(
        principal: CurrentPrincipal, name: str | None = None, status: str | None = None
    ) -> list[DefinitionView]:
        async with api.bus.uow(principal.tenant_id) as uow:
            rows = await DefinitionRepository(uow).listing(name, status)
            return [
                DefinitionView.of(r) for r in sorted(rows, key=lambda r: (r.name, r.created_at))
            ]

    @router.get("/definitions/{name}/diff")
    async def diff_definitions(
        name: str,
        principal: CurrentPrincipal,
        from_version: Annotated[str, Query(alias="from")],
        to_version: Annotated[str, Query(alias="to")],
    ) -> Response:
        async with api.bus.uow(principal.tenant_id) as uow:
            old = await _definition(uow, name, from_version)
            new = await _definition(uow, name, to_version)
            text = diff(
                WorkflowDefinition.model_validate(old.definition),
                WorkflowDefinition.model_validate(new.definition),
            )
        return Response(text, media_type="text/x-diff")

    @router.get("/definitions/{name}/{version}", response_model=DefinitionView)
    async def get_definition(
        name: str, version: str, principal: CurrentPrincipal
    ) -> DefinitionView:
        async with api.bus.uow(principal.tenant_id) as uow:
            row = await _definition(uow, name, version)
            return DefinitionView.of(row, full=True)

    @router.post("/definitions/{name}/{version}/{action}", response_model=DefinitionView)
    async def transition(
        name: str, version: str, action: Action, principal: CurrentPrincipal
    ) -> DefinitionView:
        if action is not Action.SUBMIT and REVIEWER_ROLE not in principal.roles:
            raise ApiError(
                403, "auth.forbidden", f"{action.value} needs the role {REVIEWER_ROLE!r}"
            )
        async with api.bus.uow(principal.tenant_id) as uow:
            try:
                row = await api.definitions.transition(
                    uow, name, version, action, _actor(principal)
                )
            except LookupError:
                raise not_found("definition", f"{name}@{version}") from None
            except LifecycleError as exc:
                await uow.commit()  # keep the audit record of the refusal
                await api.bus.relay.publish_committed(uow.published_ids)
                raise ApiError(_lifecycle_status(exc.code), exc.code, str(exc)) from exc
            view = DefinitionView.of(row)
            await uow.commit()
        await api.bus.relay.publish_committed(uow.published_ids)
        return view

    @router.post("/drafts", status_code=202, response_model=DraftJobView)
    async def draft(body: DraftBody, principal: CurrentPrincipal) -> DraftJobView:
        async with api.unit(principal) as uow:
            job = await api.drafter.start(
                uow, goal=body.goal, name=body.name, version=body.version, author=_actor(principal)
            )
            view = DraftJobView.of(job)
        return view

    @router.get("/drafts/{job_id}", response_model=DraftJobView)
    async def draft_status(job_id: str, principal: CurrentPrincipal) -> DraftJobView:
        async with api.bus.uow(principal.tenant_id) as uow:
            job = await DraftJobRepository(uow).get(job_id)
            if job is None:
                raise not_found("draft", job_id)
            return DraftJobView.of(job)

    app.include_router(router)


async def _definition(uow: UnitOfWork, name: str, version: str) -> DefinitionRow:
    row = await DefinitionRepository(uow).get(uow.tenant_id, name, version)
    if row is None:
        raise not_found("definition", f"{name}@{version}")
    return row


def _lifecycle_status(code: str) -> int:
    return {"workflow.self_review": 403, "workflow.quality_gate": 409}.get(code, 409)
