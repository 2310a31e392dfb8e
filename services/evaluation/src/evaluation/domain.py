"""Pure evaluation logic: case outcomes summed up, judged against thresholds, compared."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .dataset import Thresholds

__all__ = [
    "Breach",
    "CaseOutcome",
    "Comparison",
    "Summary",
    "compare",
    "percentile",
    "summarize",
    "verdict",
]


@dataclass(frozen=True)
class CaseOutcome:
    """One case of one evaluation: what the run did and how it scored."""

    case_id: str
    tags: tuple[str, ...]
    passed: bool
    score: float
    latency_ms: int | None = None
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str | None = None


@dataclass(frozen=True)
class Breach:
    """A threshold an evaluation did not meet, with the measured value."""

    threshold: str
    limit: str
    measured: str

    def __str__(self) -> str:
        return f"{self.threshold}: measured {self.measured}, limit {self.limit}"


@dataclass(frozen=True)
class Summary:
    """The figures an evaluation is judged on."""

    cases: int
    passed: int
    pass_rate: float
    pass_rate_by_tag: dict[str, float] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    tokens_per_run: float = 0.0
    cost_per_run_usd: Decimal = Decimal(0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summarize(outcomes: Sequence[CaseOutcome]) -> Summary:
    """Pass rates overall and per tag, latency percentiles, tokens and cost per run."""
    total = len(outcomes)
    passed = sum(1 for o in outcomes if o.passed)
    by_tag: dict[str, list[bool]] = {}
    for outcome in outcomes:
        for tag in outcome.tags:
            by_tag.setdefault(tag, []).append(outcome.passed)
    latencies = [float(o.latency_ms) for o in outcomes if o.latency_ms is not None]
    cost = sum((o.cost_usd for o in outcomes), Decimal(0))
    return Summary(
        cases=total,
        passed=passed,
        pass_rate=passed / total if total else 0.0,
        pass_rate_by_tag={t: sum(v) / len(v) for t, v in sorted(by_tag.items())},
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        tokens_per_run=sum(o.tokens for o in outcomes) / total if total else 0.0,
        cost_per_run_usd=(cost / total).quantize(Decimal("0.000001")) if total else Decimal(0),
    )


def verdict(summary: Summary, thresholds: Thresholds) -> list[Breach]:
    """Every threshold the summary misses (an empty list passes)."""
    breaches: list[Breach] = []
    if summary.pass_rate < thresholds.min_pass_rate:
        breaches.append(
            Breach("min_pass_rate", f"{thresholds.min_pass_rate:.2f}", f"{summary.pass_rate:.2f}")
        )
    for tag, minimum in sorted(thresholds.min_pass_rate_by_tag.items()):
        rate = summary.pass_rate_by_tag.get(tag)
        if rate is None or rate < minimum:
            shown = "no cases" if rate is None else f"{rate:.2f}"
            breaches.append(Breach(f"min_pass_rate_by_tag[{tag}]", f"{minimum:.2f}", shown))
    limit_ms = thresholds.max_p95_latency_ms
    if limit_ms is not None and (summary.latency_p95_ms or 0) > limit_ms:
        breaches.append(
            Breach("max_p95_latency_ms", str(limit_ms), f"{summary.latency_p95_ms:.0f}")
        )
    limit_usd = thresholds.max_cost_per_run_usd
    if limit_usd is not None and summary.cost_per_run_usd > limit_usd:
        breaches.append(
            Breach("max_cost_per_run_usd", str(limit_usd), str(summary.cost_per_run_usd))
        )
    return breaches


@dataclass(frozen=True)
class Comparison:
    """One case side by side in two evaluations."""

    case_id: str
    before: CaseOutcome | None
    after: CaseOutcome | None

    @property
    def change(self) -> str:
        """regression, fixed, new, removed, same-pass, same-fail or score-down/up."""
        b, a = self.before, self.after
        if b is None:
            return "new"
        if a is None:
            return "removed"
        if b.passed and not a.passed:
            return "regression"
        if a.passed and not b.passed:
            return "fixed"
        if a.score < b.score:
            return "score-down"
        if a.score > b.score:
            return "score-up"
        return "same-pass" if a.passed else "same-fail"


_ORDER = {"regression": 0, "score-down": 1, "removed": 2, "same-fail": 3, "new": 4}


def compare(before: Sequence[CaseOutcome], after: Sequence[CaseOutcome]) -> list[Comparison]:
    """Cases of two evaluations side by side, regressions first, then by case id."""
    old = {o.case_id: o for o in before}
    new = {o.case_id: o for o in after}
    rows = [Comparison(cid, old.get(cid), new.get(cid)) for cid in sorted(old.keys() | new.keys())]
    return sorted(rows, key=lambda r: (_ORDER.get(r.change, 5), r.case_id))
