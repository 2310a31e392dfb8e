"""Pure translation between the guard engine's verdicts and the event contracts."""

from __future__ import annotations

from typing import Any

from agentbus.guard import Action, GuardFinding, Verdict
from contracts.events import Decision, Direction, Finding, GuardrailVerdict
from contracts.events.audit import AuditOutcome, GuardrailUse
from contracts.types import StepRef

__all__ = [
    "audit_fields",
    "audit_outcome",
    "contract_finding",
    "contract_verdict",
    "decision_of",
    "published_masked",
]

_REASON_LIMIT = 1000


def decision_of(action: Action) -> Decision:
    """The contract's decision for an engine action (same four values)."""
    return Decision(action.value)


def contract_finding(finding: GuardFinding) -> Finding:
    """A finding as published: kind, span or path, score, rule; never the matched text."""
    return Finding(
        kind=finding.kind,
        start=finding.start,
        end=finding.end,
        path=finding.path,
        score=finding.score,
        rule=finding.rule,
        entity=finding.entity,
        detector=finding.detector,
        action=decision_of(finding.action),
    )


def published_masked(verdict: Verdict) -> Any:
    """Masked content for mask and require_approval (the reviewer sees it masked), else None."""
    if verdict.decision in (Action.MASK, Action.REQUIRE_APPROVAL):
        return verdict.masked_content
    return None


def contract_verdict(
    verdict: Verdict, *, step: StepRef, request_id: str, direction: Direction
) -> GuardrailVerdict:
    """The `GuardrailVerdict` answering one check request."""
    return GuardrailVerdict(
        step=step,
        request_id=request_id,
        direction=direction,
        decision=decision_of(verdict.decision),
        findings=[contract_finding(f) for f in verdict.findings],
        masked_content=published_masked(verdict),
        policy_name=verdict.policy_name,
        policy_version=verdict.policy_version,
        reason=verdict.reason[:_REASON_LIMIT] if verdict.reason else None,
    )


def audit_outcome(decision: Action) -> AuditOutcome:
    """A block is a denial; every other decision lets the step go on."""
    return AuditOutcome.DENIED if decision is Action.BLOCK else AuditOutcome.SUCCEEDED


def audit_fields(verdict: Verdict, direction: Direction | None) -> dict[str, Any]:
    """The typed audit fields of a check: decision, policy and finding kinds only."""
    kinds = sorted({f.kind for f in verdict.findings})
    return {
        "guardrail": GuardrailUse(
            decision=decision_of(verdict.decision),
            policy_name=verdict.policy_name,
            policy_version=verdict.policy_version,
            direction=direction,
            findings=kinds,
        ),
        "details": {
            "finding_count": len(verdict.findings),
            "reason": verdict.reason[:_REASON_LIMIT] if verdict.reason else None,
            "tokens_issued": len(verdict.vault),
        },
    }
