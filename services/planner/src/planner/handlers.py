"""Use cases on runs: submit a task, apply a reply or a timer, cancel; one transaction each."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator

from agentbus.storage import UnitOfWork
from contracts.audit import record, service_actor
from contracts.envelope import Envelope, new_envelope
from contracts.events.request import RequestFailed
from contracts.events.run import RunTimerFired
from contracts.events.task import TaskFailed, TaskSubmitted
from contracts.types import Actor, ErrorInfo

from .definition import WorkflowDefinition
from .machine import step_definition
from .replies import to_replied
from .requests import deterministic_id
from .runner import SOURCE, RunDriver, new_run_state
from .schema_errors import describe
from .state import CancelRequested, Input, RunState, TimerFired, TimerKind
from .store import DefinitionRepository, TaskRepository

__all__ = ["RunHandlers", "TaskRejectedError", "run_id_for"]

log = logging.getLogger("planner.handlers")


class TaskRejectedError(Exception):
    """A task that cannot start a run; `code` is stable, `message` says why."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


def run_id_for(tenant_id: str, task_id: str) -> str:
    """The run id of a task: derived, so a resubmission names the same run."""
    return deterministic_id("run", tenant_id, task_id)


@dataclass
class RunHandlers:
    """What the consumers and the API call, each inside the caller's unit of work."""

    driver: RunDriver

    async def resolve(
        self,
        uow: UnitOfWork,
        name: str,
        version: str | None,
        run_input: dict[str, Any],
        *,
        evaluation: bool = False,
    ) -> tuple[WorkflowDefinition, str]:
        """The published definition (and hash) a task runs; TaskRejectedError says why not."""
        repo = DefinitionRepository(uow)
        row = await repo.runnable(name, version, evaluation=evaluation)
        if row is None:
            versions = await repo.versions(name)
            wanted = f"{name}@{version}" if version else name
            if not versions:
                raise TaskRejectedError("workflow.not_found", f"unknown workflow {wanted!r}")
            if version is not None and not any(v.version == version for v in versions):
                raise TaskRejectedError(
                    "workflow.not_found", f"unknown workflow version {wanted!r}"
                )
            raise TaskRejectedError(
                "workflow.not_published", f"workflow {wanted!r} has no published version to run"
            )
        definition = await self.driver.definitions.get(uow, row.name, row.content_hash)
        if definition.input_schema is not None:
            errors = sorted(
                Draft202012Validator(definition.input_schema).iter_errors(run_input), key=str
            )
            if errors:
                raise TaskRejectedError(
                    "task.input_invalid",
                    f"input does not match {row.name}@{row.version}'s input_schema "
                    f"{describe(errors[0])}",
                )
        return definition, row.content_hash

    async def submit(self, uow: UnitOfWork, envelope: Envelope[TaskSubmitted]) -> str | None:
        """Start the task's run once; a resubmission changes nothing. The run id, if any."""
        task = envelope.data
        tasks = TaskRepository(uow)
        seen = await tasks.seen(task.task_id)
        if seen is not None:
            log.info("task already submitted", extra={"fields": {"task_id": task.task_id}})
            return seen[0]
        # The task id is the idempotency key, unless the submitter names another one.
        run_id = run_id_for(uow.tenant_id, task.idempotency_key or task.task_id)
        if task.idempotency_key and await self.driver.exists(uow, run_id):
            tasks.stage(
                task.task_id,
                run_id=run_id,
                outcome="duplicate",
                reason=f"idempotency key {task.idempotency_key!r} already started a run",
            )
            return run_id
        try:
            definition, content_hash = await self.resolve(
                uow,
                task.workflow,
                task.workflow_version,
                task.input,
                evaluation=task.evaluation is not None,
            )
        except TaskRejectedError as rejected:
            self._reject(uow, envelope, rejected)
            return None
        tasks.stage(task.task_id, run_id=run_id, outcome="started")
        state = new_run_state(
            run_id,
            definition,
            content_hash,
            tenant_id=uow.tenant_id,
            task_id=task.task_id,
            input=task.input,
            requested_by=task.requested_by,
            correlation_id=task.correlation_id,
            evaluation=task.evaluation,
        )
        # Written at commit; a run created concurrently fails it (the driver says so).
        await self.driver.start(uow, state, definition, None)
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=service_actor(SOURCE),
                action="task.accept",
                resource_type="task",
                resource_id=task.task_id,
                outcome="succeeded",
                run_id=run_id,
                workflow=state.workflow,
                on_behalf_of=task.requested_by,
                event_id=deterministic_id(uow.tenant_id, task.task_id, "audit", "accept"),
            ),
            topic=self.driver.topics("audit.log"),
        )
        return run_id

    def _reject(
        self, uow: UnitOfWork, envelope: Envelope[TaskSubmitted], rejected: TaskRejectedError
    ) -> None:
        task = envelope.data
        TaskRepository(uow).stage(task.task_id, outcome="rejected", reason=rejected.message)
        failed = TaskFailed(
            task_id=task.task_id,
            error=ErrorInfo(code=rejected.code, message=rejected.message),
            correlation_id=task.correlation_id,
        )
        uow.publish(
            new_envelope(failed, source=SOURCE, tenant_id=uow.tenant_id),
            topic=self.driver.topics("tasks.failed"),
        )
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=service_actor(SOURCE),
                action="task.reject",
                resource_type="task",
                resource_id=task.task_id,
                outcome="denied",
                on_behalf_of=task.requested_by,
                error_code=rejected.code,
                details={"workflow": task.workflow, "reason": rejected.message},
                event_id=deterministic_id(uow.tenant_id, task.task_id, "audit", "reject"),
            ),
            topic=self.driver.topics("audit.log"),
        )

    async def reply(self, uow: UnitOfWork, envelope: Envelope[Any]) -> None:
        """Apply a service's reply (or a failed reply) to the run it belongs to."""
        data = envelope.data
        ref = getattr(data, "step", None)
        run_id = ref.run_id if ref is not None else envelope.runid
        if run_id is None:
            log.warning("reply names no run; ignored")
            return

        def replied(_state: RunState, definition: WorkflowDefinition) -> Input | None:
            step = None
            if ref is not None and not isinstance(data, RequestFailed):
                try:
                    step = step_definition(definition, ref.step_id)
                except KeyError:
                    return None  # a step this definition does not have: nothing to apply
            return to_replied(data, step, now=_now())

        if not await self.driver.feed(uow, run_id, replied):
            log.warning("reply for an unknown run; ignored", extra={"fields": {"run": run_id}})

    async def timer(self, uow: UnitOfWork, envelope: Envelope[RunTimerFired]) -> None:
        """A timeout or retry timer came due."""
        ref = envelope.data.step
        event = TimerFired(
            now=_now(),
            step_key=ref.step_id,
            attempt=ref.attempt,
            timer=TimerKind(envelope.data.purpose.value),
        )
        await self.driver.feed(uow, ref.run_id, event)

    async def cancel(
        self, uow: UnitOfWork, *, task_id: str | None, run_id: str | None, reason: str, by: Actor
    ) -> bool:
        """Cancel a task's run; False when there is no such run for this tenant."""
        run = await self.driver.locate(uow, run_id=run_id, task_id=task_id)
        if run is None or run.parent is not None:
            return False
        await self.driver.feed(uow, run.run_id, CancelRequested(now=_now(), reason=reason, by=by))
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=by,
                action="run.cancel_request",
                resource_type="run",
                resource_id=run.run_id,
                outcome="succeeded",
                run_id=run.run_id,
                details={"reason": reason[:200]},
            ),
            topic=self.driver.topics("audit.log"),
        )
        return True


def _now() -> datetime:
    return datetime.now(UTC)
