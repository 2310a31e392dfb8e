"""Use cases: store datasets, start evaluations (a task per case), record and judge results."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agentbus.storage import UnitOfWork
from contracts.audit import record, service_actor
from contracts.envelope import Envelope, new_envelope
from contracts.events.evaluation import (
    ApprovalFixture,
    EvaluationCaseScored,
    EvaluationCompleted,
    EvaluationMarker,
)
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, WorkflowRef

from .dataset import Case, Dataset
from .domain import summarize, verdict
from .scorers import CaseScore
from .store import (
    CaseRepository,
    DatasetRepository,
    EvaluationRepository,
    UsageRepository,
    case_outcomes,
)
from .tables import CaseRow, DatasetRow, EvaluationRow

__all__ = [
    "EVALUATION_TASK_PREFIX",
    "SOURCE",
    "EvaluationError",
    "Evaluations",
    "Topics",
    "may_be_evaluation_task",
    "task_id_for",
]

SOURCE = "evaluation"
log = logging.getLogger("evaluation.cases")


class EvaluationError(Exception):
    """A request the service refuses; `code` is stable, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Topics:
    """Catalogue topic names with the deployment's prefix."""

    prefix: str = ""

    def __call__(self, name: str) -> str:
        return f"{self.prefix}{name}"


EVALUATION_TASK_PREFIX = "eval-"
"""How the task id of every evaluation case's run begins (task_id_for)."""


def task_id_for(evaluation_id: str, case_id: str) -> str:
    """The task id of one case's run (the planner's idempotency key)."""
    return f"{EVALUATION_TASK_PREFIX}{evaluation_id}-{case_id}"


def may_be_evaluation_task(envelope: Envelope[Any]) -> bool:
    """False for a task event that is certainly no evaluation's (its id lacks the prefix).

    Production tasks are nearly all of them; the scorer's route declines them with no
    transaction. A production task whose id happens to have the prefix is looked up and
    settled as before.
    """
    return str(getattr(envelope.data, "task_id", "")).startswith(EVALUATION_TASK_PREFIX)


@dataclass
class Evaluations:
    """Evaluation use cases, each inside the caller's unit of work."""

    topics: Topics

    async def add_dataset(self, uow: UnitOfWork, dataset: Dataset, actor: Actor) -> DatasetRow:
        """Store a dataset version; the same content again returns the stored version."""
        repo = DatasetRepository(uow)
        rows = await repo.versions(dataset.workflow, dataset.name)
        same = next((r for r in rows if r.content_hash == dataset.content_hash), None)
        if same is not None:
            return same
        row = DatasetRow(
            tenant_id=uow.tenant_id,
            workflow=dataset.workflow,
            name=dataset.name,
            version=(rows[-1].version + 1) if rows else 1,
            content_hash=dataset.content_hash,
            body=dataset.model_dump(mode="json", by_alias=True),
            created_by=actor.id,
        )
        repo.add(row)
        self._audit(uow, actor, "evaluation.dataset.add", f"{row.workflow}/{row.name}", row.version)
        return row

    async def start(
        self,
        uow: UnitOfWork,
        workflow: str,
        version: str,
        actor: Actor,
        *,
        dataset: str | None = None,
    ) -> EvaluationRow:
        """Create an evaluation and submit one evaluation task per case (one transaction)."""
        datasets = DatasetRepository(uow)
        if dataset is not None:
            chosen = await datasets.latest(workflow, dataset)
        else:
            each = await datasets.latest_each(workflow)
            chosen = each[0] if len(each) == 1 else None
            if len(each) > 1:
                names = ", ".join(sorted(r.name for r in each))
                raise EvaluationError(
                    "evaluation.dataset_ambiguous", f"{workflow} has datasets {names}; name one"
                )
        if chosen is None:
            raise EvaluationError(
                "evaluation.no_dataset", f"no evaluation dataset for workflow {workflow!r}", 404
            )
        body = Dataset.model_validate(chosen.body)
        evaluation = EvaluationRow(
            id=uuid.uuid4().hex,
            tenant_id=uow.tenant_id,
            workflow=workflow,
            version=version,
            dataset=chosen.name,
            dataset_version=chosen.version,
            dataset_hash=chosen.content_hash,
            cases=len(body.cases),
            requested_by=actor.id,
        )
        EvaluationRepository(uow).add(evaluation)
        cases = CaseRepository(uow)
        for case in body.cases:
            task_id = task_id_for(evaluation.id, case.id)
            cases.add(
                CaseRow(
                    evaluation_id=evaluation.id,
                    case_id=case.id,
                    tenant_id=uow.tenant_id,
                    task_id=task_id,
                    tags=list(case.tags),
                )
            )
            uow.publish(
                new_envelope(
                    self._task(evaluation, case, task_id, actor),
                    source=SOURCE,
                    tenant_id=uow.tenant_id,
                ),
                topic=self.topics("tasks.submitted"),
            )
        self._audit(uow, actor, "evaluation.start", f"{workflow}@{version}", chosen.version)
        return evaluation

    @staticmethod
    def _task(evaluation: EvaluationRow, case: Case, task_id: str, actor: Actor) -> TaskSubmitted:
        return TaskSubmitted(
            task_id=task_id,
            workflow=evaluation.workflow,
            workflow_version=evaluation.version,
            input=case.input,
            requested_by=actor,
            correlation_id=evaluation.id,
            evaluation=EvaluationMarker(
                evaluation_id=evaluation.id,
                case_id=case.id,
                fixtures=case.fixtures,
                approvals={
                    step: ApprovalFixture.model_validate(declared.model_dump())
                    for step, declared in case.approvals.items()
                },
            ),
        )

    async def case_of(self, uow: UnitOfWork, task_id: str) -> tuple[CaseRow, Case] | None:
        """A pending evaluation case and its dataset definition, for a finished task."""
        row = await CaseRepository(uow).by_task(task_id)
        if row is None or row.status != "pending":
            return None
        evaluation = await EvaluationRepository(uow).get(row.evaluation_id)
        if evaluation is None:
            return None
        found = await DatasetRepository(uow).get(
            uow.tenant_id, evaluation.workflow, evaluation.dataset, evaluation.dataset_version
        )
        if found is None:
            return None
        # Only this case is validated: a whole dataset per finished task would cost O(cases).
        raw = next((c for c in found.body["cases"] if c.get("id") == row.case_id), None)
        return (row, Case.model_validate(raw)) if raw is not None else None

    async def record_case(
        self,
        uow: UnitOfWork,
        task_id: str,
        *,
        run_id: str | None,
        workflow: WorkflowRef | None,
        output: Any,
        latency_ms: int | None,
        scored: CaseScore,
        error: str | None,
    ) -> None:
        """Store a case's result (once) and, when it was the last, the evaluation's verdict."""
        cases = CaseRepository(uow)
        row = await cases.by_task(task_id)
        if row is None:
            return
        evaluations = EvaluationRepository(uow)
        evaluation = await evaluations.locked(row.evaluation_id)
        if evaluation is None:
            return
        # Read again under the lock: a duplicate result that raced in changes nothing.
        await uow.session.refresh(row)
        if row.status != "pending":
            return
        passed = scored.passed and error is None
        row.status = "passed" if passed else "failed"
        row.run_id, row.output, row.latency_ms, row.error = run_id, output, latency_ms, error
        row.score = scored.score if error is None else 0.0
        row.scores = [vars(s) for s in scored.scores]
        row.judge_tokens, row.judge_cost_usd = scored.judge_tokens, scored.judge_cost_usd
        row.finished_at = datetime.now(UTC)
        cases.add(row)
        log.info(
            "case scored",
            extra={
                "fields": {
                    "evaluation_id": evaluation.id,
                    "case_id": row.case_id,
                    "run_id": run_id,
                    "passed": passed,
                }
            },
        )
        if workflow is not None and evaluation.workflow_hash is None:
            evaluation.workflow_hash = workflow.content_hash
        ref = _ref(evaluation)
        uow.publish(
            new_envelope(
                EvaluationCaseScored(
                    evaluation_id=evaluation.id,
                    workflow=ref,
                    case_id=row.case_id,
                    run_id=run_id,
                    passed=passed,
                    score=row.score,
                    latency_ms=latency_ms,
                    error=error[:2000] if error else None,
                ),
                source=SOURCE,
                tenant_id=uow.tenant_id,
            ),
            topic=self.topics("evaluations.events"),
        )
        await uow.session.flush()
        if await cases.pending(evaluation.id):
            evaluations.add(evaluation)
            return
        await self._complete(uow, evaluation, await cases.of_evaluation(evaluation.id))

    async def _complete(
        self, uow: UnitOfWork, evaluation: EvaluationRow, cases: list[CaseRow]
    ) -> None:
        found = await DatasetRepository(uow).get(
            uow.tenant_id, evaluation.workflow, evaluation.dataset, evaluation.dataset_version
        )
        assert found is not None
        thresholds = Dataset.model_validate(found.body).thresholds
        summary = summarize(await case_outcomes(cases, UsageRepository(uow)))
        breaches = verdict(summary, thresholds)
        evaluation.status = "completed"
        evaluation.passed = not breaches
        evaluation.breaches = [str(b) for b in breaches]
        evaluation.completed_at = datetime.now(UTC)
        EvaluationRepository(uow).add(evaluation)
        uow.publish(
            new_envelope(
                EvaluationCompleted(
                    evaluation_id=evaluation.id,
                    workflow=_ref(evaluation),
                    dataset_hash=evaluation.dataset_hash,
                    passed=not breaches,
                    pass_rate=summary.pass_rate,
                    breaches=evaluation.breaches,
                ),
                source=SOURCE,
                tenant_id=uow.tenant_id,
            ),
            topic=self.topics("evaluations.events"),
        )
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=service_actor(SOURCE),
                action="evaluation.verdict",
                resource_type="workflow",
                resource_id=f"{evaluation.workflow}@{evaluation.version}",
                outcome="succeeded" if not breaches else "failed",
                details={
                    "evaluation_id": evaluation.id,
                    "dataset_hash": evaluation.dataset_hash,
                    "content_hash": evaluation.workflow_hash,
                    "pass_rate": round(summary.pass_rate, 4),
                    "breaches": evaluation.breaches,
                },
            ),
            topic=self.topics("audit.log"),
        )

    def audit_feedback(self, uow: UnitOfWork, actor: Actor, run_id: str, outcome: str) -> None:
        """Audit an upstream system's verdict on a production run."""
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=actor,
                action="evaluation.feedback",
                resource_type="run",
                resource_id=run_id,
                outcome="succeeded",
                run_id=run_id,
                details={"feedback": outcome},
            ),
            topic=self.topics("audit.log"),
        )

    def _audit(self, uow: UnitOfWork, actor: Actor, action: str, resource: str, ds: int) -> None:
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=actor,
                action=action,
                resource_type="workflow",
                resource_id=resource,
                outcome="succeeded",
                details={"dataset_version": ds},
            ),
            topic=self.topics("audit.log"),
        )


def _ref(evaluation: EvaluationRow) -> WorkflowRef:
    # Until a case reports the pinned hash, the evaluation's own id stands in (all zeros).
    content = evaluation.workflow_hash or "sha256:" + "0" * 64
    return WorkflowRef(name=evaluation.workflow, version=evaluation.version, content_hash=content)
