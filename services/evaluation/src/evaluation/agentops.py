"""AgentOps: production runs per workflow version and tenant, their figures and alert rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from opentelemetry.metrics import Meter

from agentbus.storage import UnitOfWork, UnitOfWorkFactory
from contracts.envelope import Envelope
from contracts.events.evaluation import AlertRaised, AlertResolved
from contracts.events.run import RunCancelled, RunCompleted, RunEvent, RunFailed, RunStarted

from .alerts import publish_alert
from .domain import percentile
from .evaluations import EVALUATION_TASK_PREFIX, Topics
from .settings import AlertRule
from .store import (
    AlertStateRepository,
    CaseRepository,
    DeadLetterRepository,
    EvaluationRepository,
    OpsRunRepository,
    UsageRepository,
)
from .tables import DeadLetterRow, OpsRunRow

__all__ = ["AgentOps", "VersionFigures", "figures"]


_OPS_RUNS = "evaluation.agentops.runs"
"""uow.stash key: the runs this transaction has read or added, by run id."""


@dataclass(frozen=True)
class VersionFigures:
    """One workflow version's production figures over a window."""

    workflow: str
    version: str | None
    runs: int
    succeeded: int
    failed: int
    success_rate: float | None
    error_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    tokens_per_run: float | None
    cost_per_run_usd: Decimal | None
    dlq_count: int
    feedback_correct: int
    feedback_incorrect: int
    accuracy: float | None
    eval_pass_rate: float | None = None
    dlq_by_topic: dict[str, int] = field(default_factory=dict)


async def figures(
    uow: UnitOfWork, workflow: str, version: str | None, since: datetime | None
) -> VersionFigures:
    """Figures of a workflow's production runs (evaluation runs are never counted)."""
    rows = await OpsRunRepository(uow).window(workflow, version, since)
    done = [r for r in rows if r.status != "running"]
    ok = [r for r in done if r.status == "completed"]
    failed = [r for r in done if r.status != "completed"]
    spend = await UsageRepository(uow).per_run([r.run_id for r in done])
    tokens = sum(spend.get(r.run_id, (0, Decimal(0)))[0] for r in done)
    cost = sum((spend.get(r.run_id, (0, Decimal(0)))[1] for r in done), Decimal(0))
    latencies = [float(r.duration_ms) for r in done if r.duration_ms is not None]
    correct = sum(1 for r in rows if r.feedback == "correct")
    incorrect = sum(1 for r in rows if r.feedback == "incorrect")
    n = len(done)
    dlq_by_topic = await dead_letters_of(uow, workflow, version, since)
    return VersionFigures(
        workflow=workflow,
        version=version,
        runs=n,
        succeeded=len(ok),
        failed=len(failed),
        success_rate=len(ok) / n if n else None,
        error_rate=len(failed) / n if n else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        tokens_per_run=tokens / n if n else None,
        cost_per_run_usd=(cost / n).quantize(Decimal("0.000001")) if n else None,
        dlq_count=sum(dlq_by_topic.values()),
        dlq_by_topic=dlq_by_topic,
        feedback_correct=correct,
        feedback_incorrect=incorrect,
        accuracy=correct / (correct + incorrect) if correct + incorrect else None,
        eval_pass_rate=await _eval_pass_rate(uow, workflow, version),
    )


async def dead_letters_of(
    uow: UnitOfWork, workflow: str, version: str | None, since: datetime | None
) -> dict[str, int]:
    """The tenant's dead letters of a workflow (version) per original topic, from the DLQs.

    A dead letter names its workflow through its payload or its run; one whose run event
    arrived after it was read is attributed now, through the run's AgentOps row.
    """
    rows = await DeadLetterRepository(uow).since(since)
    unknown = {r.run_id for r in rows if r.workflow is None and r.run_id is not None}
    runs = {run_id: await OpsRunRepository(uow).get(run_id) for run_id in unknown}
    counts: dict[str, int] = {}
    for row in rows:
        name, ver = row.workflow, row.version
        run = runs.get(row.run_id) if name is None and row.run_id else None
        if run is not None:
            name, ver = run.workflow, run.version
        if name == workflow and (version is None or ver == version):
            counts[row.original_topic] = counts.get(row.original_topic, 0) + 1
    return counts


async def _eval_pass_rate(uow: UnitOfWork, workflow: str, version: str | None) -> float | None:
    if version is None:
        return None
    for evaluation in await EvaluationRepository(uow).of_version(workflow, version):
        if evaluation.status == "completed":
            cases = await CaseRepository(uow).of_evaluation(evaluation.id)
            return sum(1 for c in cases if c.status == "passed") / len(cases) if cases else None
    return None


class AgentOps:
    """The runs.events consumer: run rows, OpenTelemetry metrics, alert rules."""

    def __init__(self, topics: Topics, rules: Sequence[AlertRule], meter: Meter) -> None:
        self.topics = topics
        self.rules = list(rules)
        # (tenant, workflow) whose runs ended since their rules were last evaluated. Rules
        # read their whole window, so they are evaluated on an interval, never per run.
        self.due: set[tuple[str, str]] = set()
        self._runs = meter.create_counter(
            "evaluation.agentops.runs", unit="{run}", description="production runs by outcome"
        )
        self._duration = meter.create_histogram(
            "evaluation.agentops.run.duration", unit="ms", description="production run latency"
        )

    async def on_run_event(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        """Track a run's start and end; step events are not needed here."""
        data = envelope.data
        if not isinstance(data, RunEvent):
            return
        repo = OpsRunRepository(uow)
        # A batch's events share one transaction: rows it added are found here, so the look-up
        # of another run need not flush them first (a flush per event cost a quarter of
        # this service's CPU under load). Emptied with the transaction.
        seen: dict[str, OpsRunRow] = uow.stash.setdefault(_OPS_RUNS, {})
        row = seen.get(data.run_id)
        if row is None:
            with uow.session.no_autoflush:
                row = await repo.get(data.run_id)
        if row is None:
            row = OpsRunRow(
                run_id=data.run_id,
                tenant_id=uow.tenant_id,
                task_id=data.task_id,
                workflow=data.workflow.name,
                version=data.workflow.version,
                evaluation=data.task_id.startswith(EVALUATION_TASK_PREFIX)
                and await CaseRepository(uow).by_task(data.task_id) is not None,
                started_at=envelope.time or datetime.now(UTC),
            )
        seen[data.run_id] = row
        if isinstance(data, RunStarted) or row.status != "running":
            repo.add(row)
            return
        if isinstance(data, RunCompleted):
            row.status, row.duration_ms = "completed", data.timings.duration_ms
        elif isinstance(data, RunFailed):
            row.status, row.duration_ms = "failed", data.timings.duration_ms
            row.error_code = data.error.code
        elif isinstance(data, RunCancelled):
            row.status = "cancelled"
        else:
            return
        row.finished_at = datetime.now(UTC)
        repo.add(row)
        if row.evaluation:
            return  # evaluation runs never reach production metrics or alerts
        attributes = {"tenant": uow.tenant_id, "workflow": row.workflow, "version": row.version}
        self._runs.add(1, {**attributes, "outcome": row.status})
        if row.duration_ms is not None:
            self._duration.record(row.duration_ms, attributes)
        if any(r.tenant == uow.tenant_id and r.workflow == row.workflow for r in self.rules):
            workflow, tenant = row.workflow, uow.tenant_id
            uow.after_commit(lambda: self.due.add((tenant, workflow)))

    async def check_due(self, uows: UnitOfWorkFactory) -> None:
        """Evaluate the rules of every workflow whose runs ended since the last time."""
        due, self.due = self.due, set()
        for tenant, workflow in sorted(due):
            try:
                async with uows(tenant) as uow:
                    await self.check_alerts(uow, workflow)
                    await uow.commit()
            except Exception:
                self.due.add((tenant, workflow))  # evaluated again on the next tick
                raise

    async def on_dead_letters(self, uow: UnitOfWork, rows: list[DeadLetterRow]) -> None:
        """New dead letters of this tenant: check its DLQ growth rules."""
        watched = {
            r.workflow
            for r in self.rules
            if r.metric == "dlq_count" and r.tenant == uow.tenant_id and r.workflow
        }
        for workflow in sorted(watched):
            await self.check_alerts(uow, workflow)

    async def check_alerts(self, uow: UnitOfWork, workflow: str) -> None:
        """Fire a rule once when its threshold is crossed; resolve it when it recovers."""
        for rule in self.rules:
            if rule.tenant != uow.tenant_id or rule.workflow != workflow:
                continue
            if rule.metric == "budget_used_fraction":
                continue  # watched on usage.records (budget.py)
            # The rule's row first, then its figures: a check that waited for another one's
            # lock must read what that one committed. Figures read before the wait could be
            # older than the state the other check left, and resolve a rule it just raised.
            states = AlertStateRepository(uow)
            state = await states.locked(rule.name)
            since = datetime.now(UTC) - timedelta(seconds=rule.window_s)
            seen = await figures(uow, workflow, rule.version, since)
            value = _metric(seen, rule.metric)
            # Dead letters need no runs: a poisoned task may never start one.
            enough = rule.metric == "dlq_count" or seen.runs >= rule.min_runs
            crossed = value is not None and enough and value > rule.threshold
            if crossed == state.firing:
                continue
            state.firing, state.value, state.changed_at = crossed, value, datetime.now(UTC)
            states.add(state)
            event: AlertRaised | AlertResolved
            if crossed:
                event = AlertRaised(
                    rule=rule.name,
                    workflow=workflow,
                    version=rule.version,
                    metric=rule.metric,
                    value=float(value or 0),
                    threshold=rule.threshold,
                    window_s=rule.window_s,
                    details={
                        "runs": seen.runs,
                        "failed": seen.failed,
                        "dlq_by_topic": seen.dlq_by_topic,
                    },
                )
            else:
                event = AlertResolved(
                    rule=rule.name,
                    workflow=workflow,
                    version=rule.version,
                    metric=rule.metric,
                    value=float(value or 0),
                    threshold=rule.threshold,
                )
            publish_alert(uow, self.topics, event)


def _metric(seen: VersionFigures, metric: str) -> float | None:
    value: Any = {
        "error_rate": seen.error_rate,
        "cost_per_run_usd": seen.cost_per_run_usd,
        "latency_p95_ms": seen.latency_p95_ms,
        "dlq_count": seen.dlq_count,
    }[metric]
    return None if value is None else float(value)
