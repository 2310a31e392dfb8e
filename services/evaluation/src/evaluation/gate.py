"""The publish gate: a version needs a passing evaluation of its exact content hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentbus.storage import UnitOfWork
from contracts.audit import record
from contracts.types import Actor

from .dataset import Dataset
from .domain import summarize, verdict
from .evaluations import SOURCE, Topics
from .store import (
    CaseRepository,
    DatasetRepository,
    EvaluationRepository,
    OverrideRepository,
    UsageRepository,
    case_outcomes,
)
from .tables import OverrideRow

__all__ = ["Gate", "GateVerdict"]


@dataclass(frozen=True)
class GateVerdict:
    """Whether workflow@version (content hash) may be published, and why."""

    passed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Gate:
    """Checks evaluations against thresholds; records administrators' overrides."""

    topics: Topics

    async def check(
        self, uow: UnitOfWork, workflow: str, version: str, content_hash: str
    ) -> GateVerdict:
        """Pass when every dataset of the workflow (newest version) has a passing evaluation."""
        wanted = f"{workflow}@{version} ({content_hash})"
        override = await OverrideRepository(uow).get(uow.tenant_id, workflow, version, content_hash)
        if override is not None:
            return GateVerdict(
                True,
                f"overridden by {override.actor}: {override.reason}",
                {"override": {"actor": override.actor, "reason": override.reason}},
            )
        datasets = await DatasetRepository(uow).latest_each(workflow)
        if not datasets:
            return GateVerdict(False, f"no evaluation dataset for workflow {workflow!r}")
        evaluations = [
            e
            for e in await EvaluationRepository(uow).of_version(workflow, version)
            if e.status == "completed" and e.workflow_hash == content_hash
        ]
        details: dict[str, Any] = {"evaluations": []}
        for dataset in datasets:
            done = next((e for e in evaluations if e.dataset_hash == dataset.content_hash), None)
            if done is None:
                return GateVerdict(
                    False,
                    f"no completed evaluation of {wanted} on dataset {dataset.name} "
                    f"v{dataset.version}; run `evaluation run {workflow}@{version}`",
                    details,
                )
            cases = await CaseRepository(uow).of_evaluation(done.id)
            summary = summarize(await case_outcomes(cases, UsageRepository(uow)))
            thresholds = Dataset.model_validate(dataset.body).thresholds
            breaches = verdict(summary, thresholds)
            details["evaluations"].append(
                {
                    "evaluation_id": done.id,
                    "dataset": dataset.name,
                    "pass_rate": round(summary.pass_rate, 4),
                    "breaches": [str(b) for b in breaches],
                }
            )
            if breaches:
                return GateVerdict(
                    False,
                    f"evaluation {done.id} of {wanted} on {dataset.name}: "
                    + "; ".join(str(b) for b in breaches),
                    details,
                )
        return GateVerdict(True, f"{wanted} passed its evaluation", details)

    async def override(
        self,
        uow: UnitOfWork,
        workflow: str,
        version: str,
        content_hash: str,
        reason: str,
        actor: Actor,
    ) -> OverrideRow:
        """Let an administrator publish this exact content hash anyway; audited."""
        repo = OverrideRepository(uow)
        row = await repo.get(uow.tenant_id, workflow, version, content_hash)
        if row is None:
            row = OverrideRow(
                tenant_id=uow.tenant_id,
                workflow=workflow,
                version=version,
                content_hash=content_hash,
                reason=reason,
                actor=actor.id,
            )
            repo.add(row)
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=actor,
                action="evaluation.gate.override",
                resource_type="workflow",
                resource_id=f"{workflow}@{version}",
                outcome="succeeded",
                details={"content_hash": content_hash, "reason": reason},
            ),
            topic=self.topics("audit.log"),
        )
        return row
