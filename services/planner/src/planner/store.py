"""Repositories over the planner's tables; every read and write is scoped to one tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlmodel import col

from agentbus.bus import TransientError
from agentbus.storage import TenantRepository, UnitOfWork

from .state import RunState
from .tables import DefinitionRow, DraftJobRow, RunRow, TaskRow, utcnow
from .versions import Status, latest

__all__ = [
    "ConcurrentUpdateError",
    "DefinitionRepository",
    "DraftJobRepository",
    "ListedRun",
    "RunRepository",
    "TaskRepository",
]


class ListedRun(NamedTuple):
    """A run as a listing shows it: its columns, not its state."""

    run_id: str
    task_id: str
    status: str
    workflow_name: str
    workflow_version: str
    created_at: datetime


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
    ) -> Any | None:
        """The published version asked for, or the latest published one; None otherwise.

        A row with the version's name, version, status and content hash only: every task
        resolves its workflow, and the definitions' JSON is parsed once per hash elsewhere.
        """
        connection = await self.session.connection()
        rows = (await connection.execute(_VERSIONS, {"t": self.tenant_id, "n": name})).all()
        if evaluation and version is not None:
            # An evaluation (no side effects, no production metrics) proves a version before
            # it is published, so it may run the exact version it names in any status.
            return next((r for r in rows if r.version == version), None)
        rows = [r for r in rows if r.status == Status.PUBLISHED.value]
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
    """Runs of one tenant; state writes are checked against the revision read.

    The hot path (a reply applied to a run) uses Core statements on the connection: the
    ORM's identity map and flush machinery cost more than the state machine itself.
    """

    model = RunRow

    async def read(self, run_id: str) -> tuple[int, RunState] | None:
        """A run's revision and state, or None if this tenant has no such run."""
        connection = await self.session.connection()
        found = (await connection.execute(_READ, {"t": self.tenant_id, "r": run_id})).first()
        if found is None:
            return None
        return found.revision, RunState.model_validate(found.state)

    async def insert(self, states: list[RunState]) -> None:
        """Create runs (revision 0); IntegrityError if one exists already."""
        if not states:
            return
        now = utcnow()
        rows = [_run_values(self.tenant_id, state, now) for state in states]
        connection = await self.session.connection()
        await connection.execute(_RUNS.insert(), rows)

    async def write(self, changes: list[tuple[int, RunState]]) -> None:
        """Write each run's new state if nobody else wrote since its `revision` was read."""
        if not changes:
            return
        now = utcnow()
        params = [
            {
                "t": self.tenant_id,
                "r": state.run_id,
                "rev": revision,
                "next": revision + 1,
                "s_state": state.model_dump(mode="json"),
                "s_status": state.status.value,
                "at": now,
            }
            for revision, state in changes
        ]
        connection = await self.session.connection()
        result: Any = await connection.execute(_WRITE, params)
        if result.rowcount != len(changes):
            runs = ", ".join(state.run_id for _, state in changes[:5])
            raise ConcurrentUpdateError(f"a run changed concurrently (one of {runs})")

    async def listing(
        self, *, workflow: str | None, status: str | None, limit: int, offset: int
    ) -> list[ListedRun]:
        """Runs, newest first, filtered by workflow and status; without their state."""
        query = select(*(_RUNS.c[name] for name in ListedRun._fields)).where(
            _RUNS.c.tenant_id == self.tenant_id
        )
        if workflow is not None:
            query = query.where(_RUNS.c.workflow_name == workflow)
        if status is not None:
            query = query.where(_RUNS.c.status == status)
        query = query.order_by(_RUNS.c.created_at.desc()).offset(offset).limit(limit)
        connection = await self.session.connection()
        return [ListedRun(*row) for row in await connection.execute(query)]

    async def of_task(self, task_id: str) -> RunRow | None:
        """The top-level run of a task."""
        rows = await self.find(col(RunRow.task_id) == task_id, col(RunRow.parent_run_id).is_(None))
        return rows[0] if rows else None


_DEFINITIONS: Any = DefinitionRow.__table__  # type: ignore[attr-defined]
_VERSIONS = select(
    _DEFINITIONS.c.name,
    _DEFINITIONS.c.version,
    _DEFINITIONS.c.status,
    _DEFINITIONS.c.content_hash,
).where(_DEFINITIONS.c.tenant_id == bindparam("t"), _DEFINITIONS.c.name == bindparam("n"))
_RUNS: Any = RunRow.__table__  # type: ignore[attr-defined]
_READ = select(_RUNS.c.revision, _RUNS.c.state).where(
    _RUNS.c.tenant_id == bindparam("t"), _RUNS.c.run_id == bindparam("r")
)
_WRITE = (
    update(_RUNS)
    .where(
        _RUNS.c.tenant_id == bindparam("t"),
        _RUNS.c.run_id == bindparam("r"),
        _RUNS.c.revision == bindparam("rev"),
    )
    .values(
        state=bindparam("s_state"),
        status=bindparam("s_status"),
        revision=bindparam("next"),
        updated_at=bindparam("at"),
    )
)


def _run_values(tenant_id: str, state: RunState, now: datetime) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "tenant_id": tenant_id,
        "task_id": state.task_id,
        "workflow_name": state.workflow.name,
        "workflow_version": state.workflow.version,
        "content_hash": state.workflow.content_hash,
        "status": state.status.value,
        "parent_run_id": state.parent.run_id if state.parent else None,
        "state": state.model_dump(mode="json"),
        "revision": 0,
        "created_at": now,
        "updated_at": now,
    }


class TaskRepository(TenantRepository[TaskRow]):
    """Task ids seen, so a task starts at most one run.

    New tasks are written when the transaction commits, all of them in one statement;
    until then `seen` finds them here.
    """

    model = TaskRow

    def __init__(self, uow: UnitOfWork) -> None:
        super().__init__(uow)
        staged: dict[str, dict[str, Any]] | None = uow.stash.get(_TASKS_STASH)
        if staged is None:
            staged = uow.stash[_TASKS_STASH] = {}
            rows = staged

            async def write() -> None:
                if not rows:
                    return
                connection = await uow.session.connection()
                await connection.execute(_TASKS.insert(), list(rows.values()))

            uow.before_commit(write)
        self.staged = staged

    async def seen(self, task_id: str) -> tuple[str | None] | None:
        """(run id,) of a task already submitted (None when it started no run), else None."""
        staged = self.staged.get(task_id)
        if staged is not None:
            return (staged["run_id"],)
        connection = await self.session.connection()
        found = (await connection.execute(_SEEN, {"t": self.tenant_id, "k": task_id})).first()
        return (found.run_id,) if found is not None else None

    def stage(
        self, task_id: str, *, outcome: str, run_id: str | None = None, reason: str | None = None
    ) -> None:
        """Record a task as submitted (written at commit)."""
        self.staged[task_id] = {
            "tenant_id": self.tenant_id,
            "task_id": task_id,
            "run_id": run_id,
            "outcome": outcome,
            "reason": reason,
            "created_at": utcnow(),
        }


_TASKS_STASH = "planner.tasks"
_TASKS: Any = TaskRow.__table__  # type: ignore[attr-defined]
_SEEN = select(_TASKS.c.run_id).where(
    _TASKS.c.tenant_id == bindparam("t"), _TASKS.c.task_id == bindparam("k")
)


class DraftJobRepository(TenantRepository[DraftJobRow]):
    """Definitions being drafted from goals."""

    model = DraftJobRow
