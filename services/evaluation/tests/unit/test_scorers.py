"""Each scorer passes on a case made for it and fails on one made against it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from evaluation.dataset import Case
from evaluation.scorers import Judgement, score_case

OUTPUT = {
    "decision": "refund",
    "amount": 42.5,
    "reason": "The parcel arrived DAMAGED; refund approved",
    "lines": [{"sku": "A1", "ok": True}, {"sku": "B2", "ok": False}],
    "tags": ["damaged", "priority"],
}


def case(checks: list[dict[str, Any]], expected: Any = None) -> Case:
    return Case.model_validate({"id": "c1", "input": {}, "checks": checks, "expected": expected})


PASSING = [
    ({"type": "exact", "field": "decision", "expected": "refund"}, None),
    ({"type": "exact"}, OUTPUT),
    ({"type": "contains", "field": "reason", "expected": "damaged", "ignore_case": True}, None),
    ({"type": "contains", "field": "tags", "expected": "priority"}, None),
    ({"type": "regex", "field": "reason", "pattern": r"refund (approved|granted)"}, None),
    (
        {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "required": ["decision", "amount"],
                "properties": {"amount": {"type": "number", "minimum": 0}},
            },
        },
        None,
    ),
    ({"type": "numeric", "field": "amount", "expected": 42.0, "tolerance": 0.5}, None),
    ({"type": "numeric", "field": "amount", "expected": 40.0, "relative": 0.1}, None),
    ({"type": "field", "path": "lines[?ok].sku"}, {"lines": [{"sku": "A1", "ok": True}]}),
    ({"type": "field", "path": "decision", "expected_path": "want"}, {"want": "refund"}),
]

FAILING = [
    ({"type": "exact", "field": "decision", "expected": "deny"}, None, 'expected "deny"'),
    ({"type": "exact"}, {**OUTPUT, "amount": 1}, "expected"),
    ({"type": "contains", "field": "reason", "expected": "damaged"}, None, "does not contain"),
    ({"type": "contains", "field": "tags", "expected": "late"}, None, "does not contain"),
    ({"type": "regex", "field": "reason", "pattern": r"^refund"}, None, "does not match"),
    ({"type": "regex", "field": "reason", "pattern": r"(unclosed"}, None, "invalid pattern"),
    (
        {"type": "json_schema", "schema": {"properties": {"amount": {"type": "integer"}}}},
        None,
        "at amount",
    ),
    ({"type": "numeric", "field": "amount", "expected": 42.0, "tolerance": 0.1}, None, "within"),
    ({"type": "numeric", "field": "decision", "expected": 1}, None, "not a number"),
    ({"type": "field", "path": "lines[?ok].sku"}, {"lines": [{"sku": "B2", "ok": True}]}, "got"),
    ({"type": "field", "path": "decision[[["}, {"decision": "x"}, "invalid JMESPath"),
]


@pytest.mark.parametrize(("check", "expected"), PASSING)
async def test_scorer_passes_on_its_case(check: dict[str, Any], expected: Any) -> None:
    result = await score_case(case([check], expected), OUTPUT)
    assert result.passed, result.scores
    assert result.score == 1.0


@pytest.mark.parametrize(("check", "expected", "reason"), FAILING)
async def test_scorer_fails_on_its_case(check: dict[str, Any], expected: Any, reason: str) -> None:
    result = await score_case(case([check], expected), OUTPUT)
    assert not result.passed
    assert result.score == 0.0
    assert reason in result.scores[0].reason


async def test_expected_alone_is_an_exact_match() -> None:
    assert (await score_case(case([], {"a": 1}), {"a": 1})).passed
    assert not (await score_case(case([], {"a": 1}), {"a": 2})).passed


async def test_a_case_passes_only_when_every_check_passes() -> None:
    checks = [
        {"type": "exact", "field": "decision", "expected": "refund"},
        {"type": "regex", "field": "reason", "pattern": "^nope"},
    ]
    result = await score_case(case(checks), OUTPUT)
    assert not result.passed
    assert result.score == 0.5


class FixedJudge:
    def __init__(self, score: float) -> None:
        self.score = score
        self.calls: list[dict[str, Any]] = []

    async def grade(
        self, *, rubric: str, case_input: dict[str, Any], output: Any, model: str | None
    ) -> Judgement:
        self.calls.append({"rubric": rubric, "output": output, "model": model})
        return Judgement(self.score, "because", tokens=30, cost_usd=Decimal("0.0003"))


@pytest.mark.parametrize(("score", "passed"), [(0.9, True), (0.4, False)])
async def test_rubric_uses_the_judge_and_counts_its_cost(score: float, passed: bool) -> None:
    judge = FixedJudge(score)
    check = {"type": "rubric", "rubric": "polite", "field": "reason", "min_score": 0.7}
    result = await score_case(case([check]), OUTPUT, judge)
    assert result.passed is passed
    assert result.score == score
    assert result.judge_cost_usd == Decimal("0.0003")
    assert result.judge_tokens == 30
    assert judge.calls == [{"rubric": "polite", "output": OUTPUT["reason"], "model": None}]


async def test_rubric_without_a_judge_fails() -> None:
    result = await score_case(case([{"type": "rubric", "rubric": "x"}]), OUTPUT)
    assert not result.passed
    assert "no judge" in result.scores[0].reason
