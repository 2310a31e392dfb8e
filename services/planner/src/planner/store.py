"""Repositories over the planner's tables; every read and write is scoped to one tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from agentbus.bus import TransientError
from agentbus.storage import TenantRepository

from .definition import WorkflowDefinition
from .state import RunState
from .tables import DefinitionRow, DraftJobRow, RunRow, TaskRow, utcnow
from .versions import Status, latest

__all__ = [
    "ConcurrentUpdateError",
    "DefinitionRepository",
    "DraftJobRepository",
    "RunRepository",
    "TaskRepository",
]


class ConcurrentUpdateError(TransientError):
    """Another transaction changed the run first; the bus retries the whole handler."""


class DefinitionRepository(TenantRepository[DefinitionRow]):
    """Definition versions of one tenant."""

    model = DefinitionRow

    async def versions(self, name: str) -> list[DefinitionRow]:
        """Every version of `name`."""
        return await self.find(col(DefinitionRow.name) == name)

    async def runnable(
        self, name: str, version: str | None, *, evaluation: bool = False
    ) -> DefinitionRow | None:
        """The published version asked for, or the latest published one; None otherwise."""
        if evaluation and version is not None:
            # An evaluation (no side effects, no production metrics) proves a version before
            # it is published, so it may run the exact version it names in any status.
            return next((r for r in await self.versions(name) if r.version == version), None)
        rows = [r for r in await self.versions(name) if r.status == Status.PUBLISHED.value]
        if version is not None:
            return next((r for r in rows if r.version == version), None)
        newest = latest(r.version for r in rows)
        return next((r for r in rows if r.version == newest), None)

    async def by_hash(self, name: str, content_hash: str) -> DefinitionRow | None:
        """The version of `name` with this content hash (a run's pinned definition)."""
        found = await self.find(
            col(DefinitionRow.name) == name, col(DefinitionRow.content_hash) == content_hash
        )
        return found[0] if found else None

    async def listing(self, name: str | None = None, status: str | None = None) -> list[Any]:
        """Definitions, optionally of one name or status."""
        where = []
        if name is not None:
            where.append(col(DefinitionRow.name) == name)
        if status is not None:
            where.append(col(DefinitionRow.status) == status)
        return await self.find(*where)


class RunRepository(TenantRepository[RunRow]):
    """Runs of one tenant; state writes are checked against the revision read."""

    model = RunRow

    def create(self, state: RunState, definition: WorkflowDefinition) -> RunRow:
        """Stage a new run row."""
        row = RunRow(
            run_id=state.run_id,
            tenant_id=self.tenant_id,
            task_id=state.task_id,
            workflow_name=definition.name,
            workflow_version=definition.version,
            content_hash=state.workflow.content_hash,
            status=state.status.value,
            parent_run_id=state.parent.run_id if state.parent else None,
            state=state.model_dump(mode="json"),
        )
        return self.add(row)

    async def save(self, row: RunRow, state: RunState) -> None:
        """Write the new state if nobody else wrote since `row` was read."""
        data = state.model_dump(mode="json")
        result: Any = await self.session.exec(
            update(RunRow)
            .where(
                col(RunRow.run_id) == row.run_id,
                col(RunRow.tenant_id) == self.tenant_id,
                col(RunRow.revision) == row.revision,
            )
            .values(
                state=data,
                status=state.status.value,
                revision=row.revision + 1,
                updated_at=utcnow(),
            )
        )
        if result.rowcount != 1:
            raise ConcurrentUpdateError(f"run {row.run_id} changed concurrently")
        # The row in the session now shows what was written, without being flushed again:
        # a later handler in the same transaction (a batch) must read this state.
        set_committed_value(row, "state", data)
        set_committed_value(row, "status", state.status.value)
        set_committed_value(row, "revision", row.revision + 1)

    async def listing(
        self, *, workflow: str | None, status: str | None, limit: int, offset: int
    ) -> list[RunRow]:
        """Runs, newest first, filtered by workflow and status."""
        query = self.query()
        if workflow is not None:
            query = query.where(col(RunRow.workflow_name) == workflow)
        if status is not None:
            query = query.where(col(RunRow.status) == status)
        query = query.order_by(col(RunRow.created_at).desc()).offset(offset).limit(limit)
        return list((await self.session.exec(query)).all())

    async def of_task(self, task_id: str) -> RunRow | None:
        """The top-level run of a task."""
        rows = await self.find(col(RunRow.task_id) == task_id, col(RunRow.parent_run_id).is_(None))
        return rows[0] if rows else None


class TaskRepository(TenantRepository[TaskRow]):
    """Task ids seen, so a task starts at most one run."""

    model = TaskRow


class DraftJobRepository(TenantRepository[DraftJobRow]):
    """Definitions being drafted from goals."""

    model = DraftJobRow
