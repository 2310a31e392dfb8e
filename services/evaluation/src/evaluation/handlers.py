"""Bus handlers: score finished evaluation tasks (I/O: the judge), record model spend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentbus.bus import SETTLED, IoContext, Settled
from agentbus.storage import Insert, UnitOfWork, prepared, table_of
from contracts.envelope import Envelope
from contracts.events.task import TaskCompleted, TaskFailed
from contracts.events.usage import UsageRecorded
from contracts.types import WorkflowRef

from .dataset import Case
from .evaluations import Evaluations
from .scorers import CaseScore, Judge, score_case
from .tables import UsageRow

__all__ = ["Finished", "ScoreFinishedTask", "record_usage"]


@dataclass(frozen=True)
class Finished:
    """A finished evaluation task, ready to score."""

    tenant_id: str
    task_id: str
    case: Case
    run_id: str | None
    workflow: WorkflowRef | None
    output: Any
    latency_ms: int | None
    error: str | None


class ScoreFinishedTask:
    """tasks.completed / tasks.failed: score an evaluation's case (the judge is the I/O)."""

    def __init__(self, evaluations: Evaluations, judge_for: Callable[[str], Judge]) -> None:
        self.evaluations = evaluations
        self.judge_for = judge_for

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> Finished | Settled:
        """The pending case this task ran; SETTLED for a task that is not an evaluation's
        (most of them: production tasks are done in this one transaction)."""
        data = envelope.data
        found = await self.evaluations.case_of(uow, data.task_id)
        if found is None:
            return SETTLED
        _row, case = found
        if isinstance(data, TaskCompleted):
            return Finished(
                uow.tenant_id,
                data.task_id,
                case,
                data.run_id,
                data.workflow,
                data.output,
                data.timings.duration_ms,
                None,
            )
        assert isinstance(data, TaskFailed)
        latency = data.timings.duration_ms if data.timings else None
        error = f"{data.error.code}: {data.error.message}"
        return Finished(uow.tenant_id, data.task_id, case, data.run_id, None, None, latency, error)

    async def perform(self, prepared: Finished, ctx: IoContext) -> tuple[Finished, CaseScore]:
        """Score the output; a failed run scores nothing (no judge call)."""
        if prepared.error is not None:
            return prepared, CaseScore()
        judge = self.judge_for(prepared.tenant_id)
        return prepared, await score_case(prepared.case, prepared.output, judge)

    async def record(
        self,
        envelope: Envelope[Any],
        result: tuple[Finished, CaseScore],
        uow: UnitOfWork,
    ) -> None:
        """Store the case's result and, after the last case, the verdict."""
        finished, scored = result
        await self.evaluations.record_case(
            uow,
            finished.task_id,
            run_id=finished.run_id,
            workflow=finished.workflow,
            output=finished.output,
            latency_ms=finished.latency_ms,
            scored=scored,
            error=finished.error,
        )


async def record_usage(envelope: Envelope[Any], uow: UnitOfWork) -> None:
    """usage.records: remember each call's tokens and cost under its run."""
    data: UsageRecorded = envelope.data
    run_id = data.step.run_id if data.step else envelope.runid
    if run_id is None:
        return
    # Once per event: a redelivered one conflicts on the event id and is ignored.
    await uow.session.exec(
        prepared(uow, _new_usage),
        params={
            "event_id": envelope.id,
            "tenant_id": uow.tenant_id,
            "run_id": run_id,
            "tokens": data.usage.total_tokens,
            "cost_usd": data.cost_usd,
        },
    )


def _new_usage(insert: Insert) -> Any:
    return insert(table_of(UsageRow)).on_conflict_do_nothing()
