"""Repositories: the one place evaluation rows are read and written, per tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sl_insert
from sqlmodel import col, select

from agentbus.storage import TenantRepository

from .domain import CaseOutcome
from .tables import (
    AlertStateRow,
    CaseRow,
    DatasetRow,
    DeadLetterRow,
    EvaluationRow,
    OpsRunRow,
    OverrideRow,
    SpendRow,
    UsageRow,
)

__all__ = [
    "AlertStateRepository",
    "CaseRepository",
    "DatasetRepository",
    "DeadLetterRepository",
    "EvaluationRepository",
    "OpsRunRepository",
    "OverrideRepository",
    "SpendRepository",
    "UsageRepository",
    "case_outcomes",
]


class DatasetRepository(TenantRepository[DatasetRow]):
    """Dataset versions of one tenant."""

    model = DatasetRow

    async def versions(self, workflow: str, name: str | None = None) -> list[DatasetRow]:
        """Versions of a workflow's datasets (one name, or all), oldest first."""
        where = [col(DatasetRow.workflow) == workflow]
        if name is not None:
            where.append(col(DatasetRow.name) == name)
        rows = await self.find(*where)
        return sorted(rows, key=lambda r: (r.name, r.version))

    async def latest(self, workflow: str, name: str) -> DatasetRow | None:
        """The newest version of one dataset."""
        rows = await self.versions(workflow, name)
        return rows[-1] if rows else None

    async def latest_each(self, workflow: str) -> list[DatasetRow]:
        """The newest version of every curated dataset of a workflow (shadows are not)."""
        newest: dict[str, DatasetRow] = {}
        for row in await self.versions(workflow):
            if not row.name.startswith("shadow-"):
                newest[row.name] = row
        return list(newest.values())


class EvaluationRepository(TenantRepository[EvaluationRow]):
    """Evaluations of one tenant."""

    model = EvaluationRow

    async def of_version(self, workflow: str, version: str) -> list[EvaluationRow]:
        """Evaluations of workflow@version, newest first."""
        rows = await self.find(
            col(EvaluationRow.workflow) == workflow, col(EvaluationRow.version) == version
        )
        return sorted(rows, key=lambda r: r.created_at, reverse=True)

    async def locked(self, evaluation_id: str) -> EvaluationRow | None:
        """The evaluation, row-locked until commit: its cases finish one at a time.

        Cases of one evaluation finish concurrently (their runs have different keys); without
        the lock two last cases could each see the other pending and neither would complete
        it. SQLite serialises writers anyway and ignores FOR UPDATE.
        """
        query = self.query().where(col(EvaluationRow.id) == evaluation_id).with_for_update()
        found = (await self.session.exec(query.execution_options(populate_existing=True))).first()
        return found

    async def recent(self, limit: int) -> list[EvaluationRow]:
        """The newest evaluations."""
        query = self.query().order_by(col(EvaluationRow.created_at).desc()).limit(limit)
        return list((await self.session.exec(query)).all())


class CaseRepository(TenantRepository[CaseRow]):
    """Cases of this tenant's evaluations."""

    model = CaseRow

    async def by_task(self, task_id: str) -> CaseRow | None:
        """The case a task runs, if the task is an evaluation's."""
        rows = await self.find(col(CaseRow.task_id) == task_id, limit=1)
        return rows[0] if rows else None

    async def pending(self, evaluation_id: str) -> int:
        """How many cases of an evaluation have no result yet."""
        query = (
            select(func.count())
            .select_from(CaseRow)
            .where(col(CaseRow.tenant_id) == self.tenant_id)
            .where(col(CaseRow.evaluation_id) == evaluation_id)
            .where(col(CaseRow.status) == "pending")
        )
        return int((await self.session.exec(query)).one())

    async def of_evaluation(self, evaluation_id: str) -> list[CaseRow]:
        """Every case of an evaluation, by case id."""
        rows = await self.find(col(CaseRow.evaluation_id) == evaluation_id)
        return sorted(rows, key=lambda r: r.case_id)


class UsageRepository(TenantRepository[UsageRow]):
    """Model spend per run."""

    model = UsageRow

    async def per_run(self, run_ids: Sequence[str]) -> dict[str, tuple[int, Decimal]]:
        """run id -> (tokens, cost) summed over its calls."""
        if not run_ids:
            return {}
        query = (
            select(UsageRow.run_id, func.sum(UsageRow.tokens), func.sum(UsageRow.cost_usd))
            .where(col(UsageRow.tenant_id) == self.tenant_id)
            .where(col(UsageRow.run_id).in_(list(run_ids)))
            .group_by(col(UsageRow.run_id))
        )
        rows = (await self.session.exec(query)).all()
        return {run: (int(tokens or 0), Decimal(cost or 0)) for run, tokens, cost in rows}


class OverrideRepository(TenantRepository[OverrideRow]):
    """Gate overrides."""

    model = OverrideRow


class OpsRunRepository(TenantRepository[OpsRunRow]):
    """Runs as AgentOps sees them."""

    model = OpsRunRow

    async def window(
        self, workflow: str, version: str | None, since: datetime | None
    ) -> list[OpsRunRow]:
        """Production (non-evaluation) runs of a workflow (one version or all) since a time."""
        where = [col(OpsRunRow.workflow) == workflow, col(OpsRunRow.evaluation).is_(False)]
        if version is not None:
            where.append(col(OpsRunRow.version) == version)
        if since is not None:
            where.append(col(OpsRunRow.started_at) >= since)
        return await self.find(*where)


class AlertStateRepository(TenantRepository[AlertStateRow]):
    """Firing state of alert rules."""

    model = AlertStateRow

    async def locked(self, rule: str) -> AlertStateRow:
        """The rule's state, created if new and row-locked until commit.

        Two replicas checking one rule at once would otherwise both see it quiet and both
        raise it (or both insert its row, one failing). SQLite serialises writers anyway.
        """
        values = {
            "tenant_id": self.tenant_id,
            "rule": rule,
            "firing": False,
            "changed_at": datetime.now(UTC),
        }
        table = AlertStateRow.__table__  # type: ignore[attr-defined]
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sl_insert
        await self.session.exec(insert(table).values(**values).on_conflict_do_nothing())
        query = (
            self.query()
            .where(col(AlertStateRow.rule) == rule)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).one()


class DeadLetterRepository(TenantRepository[DeadLetterRow]):
    """The tenant's records on DLQ topics."""

    model = DeadLetterRow

    async def since(self, since: datetime | None) -> list[DeadLetterRow]:
        """Dead letters that failed at or after `since` (all when None)."""
        query = self.query()
        if since is not None:
            query = query.where(col(DeadLetterRow.failed_at) >= since)
        return list((await self.session.exec(query)).all())


class SpendRepository(TenantRepository[SpendRow]):
    """Every metered model call of the tenant (budget alerts)."""

    model = SpendRow

    async def total(self, first_day: str, last_day: str) -> Decimal:
        """Cost over the days `first_day`..`last_day` (YYYY-MM-DD, inclusive)."""
        query = (
            select(func.sum(SpendRow.cost_usd))
            .where(col(SpendRow.tenant_id) == self.tenant_id)
            .where(col(SpendRow.day) >= first_day)
            .where(col(SpendRow.day) <= last_day)
        )
        return Decimal((await self.session.exec(query)).one() or 0)


async def case_outcomes(cases: Sequence[CaseRow], usage: UsageRepository) -> list[CaseOutcome]:
    """Finished cases as domain outcomes, with their runs' tokens and cost."""
    spend = await usage.per_run([c.run_id for c in cases if c.run_id])
    outcomes = []
    for case in cases:
        if case.status == "pending":
            continue
        tokens, cost = spend.get(case.run_id or "", (0, Decimal(0)))
        outcomes.append(
            CaseOutcome(
                case_id=case.case_id,
                tags=tuple(case.tags or ()),
                passed=case.status == "passed",
                score=case.score or 0.0,
                latency_ms=case.latency_ms,
                tokens=tokens,
                cost_usd=cost,
                error=case.error,
            )
        )
    return outcomes
