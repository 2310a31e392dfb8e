"""Read models: an evaluation with its cases and summary, a comparison of two."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from agentbus.storage import UnitOfWork

from .dataset import Dataset
from .domain import CaseOutcome, compare, summarize, verdict
from .store import CaseRepository, DatasetRepository, UsageRepository, case_outcomes
from .tables import EvaluationRow

__all__ = ["comparison_view", "evaluation_view", "outcomes_of"]


async def outcomes_of(uow: UnitOfWork, evaluation_id: str) -> list[CaseOutcome]:
    """The finished cases of an evaluation as outcomes (run spend included)."""
    cases = await CaseRepository(uow).of_evaluation(evaluation_id)
    return await case_outcomes(cases, UsageRepository(uow))


async def evaluation_view(uow: UnitOfWork, row: EvaluationRow) -> dict[str, Any]:
    """An evaluation: status, summary against its thresholds, and every case."""
    cases = await CaseRepository(uow).of_evaluation(row.id)
    outcomes = {o.case_id: o for o in await case_outcomes(cases, UsageRepository(uow))}
    summary = summarize(list(outcomes.values()))
    dataset = await DatasetRepository(uow).get(
        uow.tenant_id, row.workflow, row.dataset, row.dataset_version
    )
    thresholds = Dataset.model_validate(dataset.body).thresholds if dataset else None
    breaches = [str(b) for b in verdict(summary, thresholds)] if thresholds else []
    judge_cost = sum((c.judge_cost_usd for c in cases), Decimal(0))
    return {
        "evaluation_id": row.id,
        "workflow": row.workflow,
        "version": row.version,
        "content_hash": row.workflow_hash,
        "dataset": {"name": row.dataset, "version": row.dataset_version, "hash": row.dataset_hash},
        "status": row.status,
        "done": sum(1 for c in cases if c.status != "pending"),
        "cases_total": row.cases,
        "passed": (not breaches) if row.status == "completed" else None,
        "breaches": breaches,
        "summary": {
            **{k: v for k, v in asdict(summary).items() if k != "cost_per_run_usd"},
            "cost_per_run_usd": str(summary.cost_per_run_usd),
            "judge_cost_usd": f"{judge_cost:f}",
        },
        "thresholds": thresholds.model_dump(mode="json") if thresholds else None,
        "cases": [
            {
                "case_id": c.case_id,
                "status": c.status,
                "score": c.score,
                "latency_ms": c.latency_ms,
                "tokens": outcomes[c.case_id].tokens if c.case_id in outcomes else 0,
                "cost_usd": f"{outcomes[c.case_id].cost_usd:f}" if c.case_id in outcomes else "0",
                "judge_cost_usd": f"{c.judge_cost_usd:f}",
                "tags": c.tags or [],
                "run_id": c.run_id,
                "error": c.error,
                "checks": c.scores or [],
            }
            for c in cases
        ],
    }


def _side(o: CaseOutcome | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"passed": o.passed, "score": o.score, "latency_ms": o.latency_ms}


async def comparison_view(uow: UnitOfWork, a: EvaluationRow, b: EvaluationRow) -> dict[str, Any]:
    """Two evaluations case by case, regressions first, with both summaries."""
    before, after = await outcomes_of(uow, a.id), await outcomes_of(uow, b.id)
    rows = compare(before, after)
    return {
        "a": {
            "evaluation_id": a.id,
            "version": a.version,
            "pass_rate": summarize(before).pass_rate,
        },
        "b": {"evaluation_id": b.id, "version": b.version, "pass_rate": summarize(after).pass_rate},
        "regressions": sum(1 for r in rows if r.change == "regression"),
        "cases": [
            {"case_id": r.case_id, "change": r.change, "a": _side(r.before), "b": _side(r.after)}
            for r in rows
        ],
    }
