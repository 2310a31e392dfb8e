"""Scorers: each check of a case, applied to a run's output, gives a pass/fail and a score."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import jmespath
from jmespath.exceptions import JMESPathError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .dataset import (
    Case,
    Check,
    ContainsCheck,
    ExactCheck,
    FieldCheck,
    JsonSchemaCheck,
    NumericCheck,
    RegexCheck,
    RubricCheck,
)

__all__ = ["CaseScore", "Judge", "Judgement", "Score", "score_case", "score_check"]


@dataclass(frozen=True)
class Score:
    """One check's result."""

    scorer: str
    passed: bool
    score: float
    reason: str = ""


@dataclass(frozen=True)
class Judgement:
    """A judge model's grade and what it cost."""

    score: float
    reason: str
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)


class Judge(Protocol):
    """Grades an output against a rubric (the model-router in production)."""

    async def grade(
        self, *, rubric: str, case_input: dict[str, Any], output: Any, model: str | None
    ) -> Judgement: ...


@dataclass(frozen=True)
class CaseScore:
    """All checks of one case: it passes when every check passes."""

    scores: list[Score] = field(default_factory=list)
    judge_tokens: int = 0
    judge_cost_usd: Decimal = Decimal(0)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return bool(self.scores) and all(s.passed for s in self.scores)

    @property
    def score(self) -> float:
        """The mean of the checks' scores."""
        return sum(s.score for s in self.scores) / len(self.scores) if self.scores else 0.0


def _binary(scorer: str, passed: bool, reason: str) -> Score:
    return Score(scorer, passed, 1.0 if passed else 0.0, "" if passed else reason)


def _select(path: str | None, output: Any) -> Any:
    return output if path is None else jmespath.search(path, output)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)[:200]


def _exact(check: ExactCheck, output: Any, case: Case) -> Score:
    expected = check.expected if check.expected is not None else case.expected
    actual = _select(check.field, output)
    return _binary("exact", actual == expected, f"got {_show(actual)}, expected {_show(expected)}")


def _contains(check: ContainsCheck, output: Any) -> Score:
    actual = _select(check.field, output)
    if isinstance(actual, str) and isinstance(check.expected, str):
        haystack, needle = actual, check.expected
        if check.ignore_case:
            haystack, needle = haystack.casefold(), needle.casefold()
        found = needle in haystack
    elif isinstance(actual, list | dict):
        found = check.expected in actual
    else:
        found = False
    return _binary("contains", found, f"{_show(actual)} does not contain {_show(check.expected)}")


def _regex(check: RegexCheck, output: Any) -> Score:
    actual = _select(check.field, output)
    text = actual if isinstance(actual, str) else json.dumps(actual, sort_keys=True)
    try:
        matched = re.search(check.pattern, text) is not None
    except re.error as exc:
        return _binary("regex", False, f"invalid pattern: {exc}")
    return _binary("regex", matched, f"{_show(actual)} does not match /{check.pattern}/")


def _json_schema(check: JsonSchemaCheck, output: Any) -> Score:
    actual = _select(check.field, output)
    try:
        errors = sorted(Draft202012Validator(check.json_schema).iter_errors(actual), key=str)
    except SchemaError as exc:
        return _binary("json_schema", False, f"invalid schema: {exc.message}")
    if not errors:
        return _binary("json_schema", True, "")
    where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
    return _binary("json_schema", False, f"at {where}: {errors[0].message}")


def _numeric(check: NumericCheck, output: Any) -> Score:
    actual = _select(check.field, output)
    if isinstance(actual, bool) or not isinstance(actual, int | float | str):
        return _binary("numeric", False, f"{_show(actual)} is not a number")
    try:
        value = float(actual)
    except ValueError:
        return _binary("numeric", False, f"{_show(actual)} is not a number")
    allowed = max(check.tolerance, check.relative * abs(check.expected))
    close = math.isfinite(value) and abs(value - check.expected) <= allowed
    return _binary("numeric", close, f"{value} is not within {allowed} of {check.expected}")


def _field(check: FieldCheck, output: Any, case: Case) -> Score:
    actual = jmespath.search(check.path, output)
    expected = jmespath.search(check.expected_path or check.path, case.expected)
    return _binary(
        "field",
        actual == expected,
        f"{check.path}: got {_show(actual)}, expected {_show(expected)}",
    )


async def _rubric(
    check: RubricCheck, output: Any, case: Case, judge: Judge | None
) -> tuple[Score, Judgement | None]:
    if judge is None:
        return Score("rubric", False, 0.0, "no judge configured"), None
    judgement = await judge.grade(
        rubric=check.rubric,
        case_input=case.input,
        output=_select(check.field, output),
        model=check.model,
    )
    passed = judgement.score >= check.min_score
    reason = "" if passed else f"judged {judgement.score:.2f} < {check.min_score}: "
    return Score("rubric", passed, judgement.score, reason + judgement.reason), judgement


async def score_check(
    check: Check, output: Any, case: Case, judge: Judge | None = None
) -> tuple[Score, Judgement | None]:
    """Apply one check; a bad expression fails the check with the reason, never raises."""
    try:
        if isinstance(check, RubricCheck):
            return await _rubric(check, output, case, judge)
        if isinstance(check, ExactCheck):
            return _exact(check, output, case), None
        if isinstance(check, ContainsCheck):
            return _contains(check, output), None
        if isinstance(check, RegexCheck):
            return _regex(check, output), None
        if isinstance(check, JsonSchemaCheck):
            return _json_schema(check, output), None
        if isinstance(check, NumericCheck):
            return _numeric(check, output), None
        return _field(check, output, case), None
    except JMESPathError as exc:
        return Score(check.type, False, 0.0, f"invalid JMESPath: {exc}"), None


async def score_case(case: Case, output: Any, judge: Judge | None = None) -> CaseScore:
    """Every check of a case on one output, with the judge's spend."""
    scores: list[Score] = []
    tokens = 0
    cost = Decimal(0)
    for check in case.effective_checks():
        score, judgement = await score_check(check, output, case, judge)
        scores.append(score)
        if judgement is not None:
            tokens += judgement.tokens
            cost += judgement.cost_usd
    return CaseScore(scores, tokens, cost)
