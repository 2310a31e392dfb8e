"""Datasets parse and hash canonically; summaries meet or breach thresholds by name."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from evaluation.dataset import Dataset, DatasetError, Thresholds, canonical_hash, parse_cases
from evaluation.domain import CaseOutcome, compare, percentile, summarize, verdict

LINES = "\n".join(
    [
        "# refunds",
        json.dumps({"id": "a", "input": {"x": 1}, "expected": {"y": 1}, "tags": ["easy"]}),
        "",
        json.dumps({"id": "b", "input": {"x": 2}, "checks": [{"type": "regex", "pattern": "y"}]}),
    ]
)


def test_cases_parse_from_json_lines() -> None:
    cases = parse_cases(LINES)
    assert [c.id for c in cases] == ["a", "b"]
    assert cases[0].tags == ["easy"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "line 1: not JSON"),
        (json.dumps({"id": "a", "input": {}}), "line 1: (case): Value error, a case needs"),
        (json.dumps({"id": "a", "input": {}, "checks": [{"type": "nope"}]}), "line 1: checks.0"),
        ("", "no cases"),
    ],
)
def test_bad_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_cases(text)


def test_content_hash_is_canonical_and_changes_with_content() -> None:
    cases = parse_cases(LINES)
    one = Dataset(workflow="w", name="d", cases=cases)
    same = Dataset.model_validate(json.loads(json.dumps(one.model_dump(mode="json"))))
    other = Dataset(workflow="w", name="d", cases=cases, thresholds=Thresholds(min_pass_rate=0.5))
    assert one.content_hash == same.content_hash
    assert one.content_hash != other.content_hash
    assert one.content_hash.startswith("sha256:")


def test_approval_outcomes_are_declared_per_step_and_checked() -> None:
    base = {"id": "a", "input": {}, "expected": 1}
    plain = Dataset(workflow="w", name="d", cases=parse_cases(json.dumps(base)))
    declared = {**base, "approvals": {"approve": {"outcome": "rejected", "reason": "no"}}}
    [case] = parse_cases(json.dumps(declared))
    assert case.approvals["approve"].outcome == "rejected"
    # Declaring an outcome is content; declaring none keeps the hash datasets had before.
    assert Dataset(workflow="w", name="d", cases=[case]).content_hash != plain.content_hash
    assert plain.content_hash == canonical_hash(
        {
            "workflow": "w",
            "name": "d",
            "thresholds": Thresholds().model_dump(mode="json"),
            "cases": [{**base, "checks": [], "tags": [], "fixtures": {}}],
        }
    )
    wrong = {**base, "approvals": {"approve": {"outcome": "maybe"}}}
    with pytest.raises(DatasetError, match=r"line 1: approvals\.approve\.outcome"):
        parse_cases(json.dumps(wrong))


def test_duplicate_case_ids_are_refused() -> None:
    line = json.dumps({"id": "a", "input": {}, "expected": 1})
    with pytest.raises(ValueError, match="appears twice"):
        Dataset(workflow="w", name="d", cases=parse_cases(line + "\n" + line))


def outcome(cid: str, passed: bool, *tags: str, ms: int = 100, cost: str = "0") -> CaseOutcome:
    return CaseOutcome(cid, tags, passed, 1.0 if passed else 0.0, ms, 10, Decimal(cost))


def test_percentile_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([5, 1, 3], 50) == 3
    assert percentile(list(range(1, 101)), 95) == 95


def test_summary_and_a_passing_verdict() -> None:
    outcomes = [outcome("a", True, "x", ms=100, cost="0.01"), outcome("b", True, ms=300)]
    summary = summarize(outcomes)
    assert summary.pass_rate == 1.0
    assert summary.pass_rate_by_tag == {"x": 1.0}
    assert summary.latency_p95_ms == 300
    assert summary.cost_per_run_usd == Decimal("0.005")
    assert summary.tokens_per_run == 10
    thresholds = Thresholds(
        min_pass_rate=1.0,
        min_pass_rate_by_tag={"x": 1.0},
        max_p95_latency_ms=300,
        max_cost_per_run_usd=Decimal("0.005"),
    )
    assert verdict(summary, thresholds) == []


def test_every_breach_names_its_threshold_and_measured_value() -> None:
    outcomes = [
        outcome("a", True, "x", ms=100, cost="0.02"),
        outcome("b", False, "x", ms=900),
        outcome("c", True, ms=100),
    ]
    thresholds = Thresholds(
        min_pass_rate=0.9,
        min_pass_rate_by_tag={"x": 0.8, "missing": 0.5},
        max_p95_latency_ms=500,
        max_cost_per_run_usd=Decimal("0.005"),
    )
    messages = [str(b) for b in verdict(summarize(outcomes), thresholds)]
    assert messages == [
        "min_pass_rate: measured 0.67, limit 0.90",
        "min_pass_rate_by_tag[missing]: measured no cases, limit 0.50",
        "min_pass_rate_by_tag[x]: measured 0.50, limit 0.80",
        "max_p95_latency_ms: measured 900, limit 500",
        "max_cost_per_run_usd: measured 0.006667, limit 0.005",
    ]


def test_compare_puts_regressions_first() -> None:
    before = [outcome("a", True), outcome("b", False), outcome("c", True), outcome("d", True)]
    after = [outcome("a", True), outcome("b", True), outcome("c", False), outcome("e", True)]
    rows = compare(before, after)
    assert [(r.case_id, r.change) for r in rows] == [
        ("c", "regression"),
        ("d", "removed"),
        ("e", "new"),
        ("a", "same-pass"),
        ("b", "fixed"),
    ]
