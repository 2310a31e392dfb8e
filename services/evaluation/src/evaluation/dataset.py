"""Evaluation datasets: JSON Lines cases with checks and tags, content-hashed, with thresholds."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "ApprovalOutcome",
    "Case",
    "Check",
    "ContainsCheck",
    "Dataset",
    "DatasetError",
    "ExactCheck",
    "FieldCheck",
    "JsonSchemaCheck",
    "NumericCheck",
    "RegexCheck",
    "RubricCheck",
    "Thresholds",
    "canonical_hash",
    "parse_cases",
]


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the line and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _CheckBase(_Model):
    field: str | None = Field(
        default=None, description="JMESPath into the run output; null checks the whole output"
    )


class ExactCheck(_CheckBase):
    """The (field of the) output equals `expected` (or the case's expected output)."""

    type: Literal["exact"] = "exact"
    expected: Any = None


class ContainsCheck(_CheckBase):
    """The output text contains a substring, or the output list contains an element."""

    type: Literal["contains"] = "contains"
    expected: Any
    ignore_case: bool = False


class RegexCheck(_CheckBase):
    """The output text matches a regular expression (search, not full match)."""

    type: Literal["regex"] = "regex"
    pattern: str


class JsonSchemaCheck(_CheckBase):
    """The output is valid against a JSON Schema."""

    type: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any] = Field(alias="schema")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class NumericCheck(_CheckBase):
    """The output number is within `tolerance` (absolute) or `relative` of `expected`."""

    type: Literal["numeric"] = "numeric"
    expected: float
    tolerance: float = Field(default=0.0, ge=0)
    relative: float = Field(default=0.0, ge=0)


class FieldCheck(_Model):
    """A JMESPath expression on the output equals one on the case's expected output."""

    type: Literal["field"] = "field"
    path: str
    expected_path: str | None = Field(default=None, description="defaults to `path`")


class RubricCheck(_CheckBase):
    """A judge model grades the output against a rubric (0..1) through the model-router."""

    type: Literal["rubric"] = "rubric"
    rubric: str = Field(min_length=1, max_length=4000)
    min_score: float = Field(default=0.7, ge=0, le=1)
    model: str | None = Field(default=None, description="judge alias; the service's default")


Check = Annotated[
    ExactCheck
    | ContainsCheck
    | RegexCheck
    | JsonSchemaCheck
    | NumericCheck
    | FieldCheck
    | RubricCheck,
    Field(discriminator="type"),
]


class ApprovalOutcome(_Model):
    """The declared decision of one approval step in a case (no human is asked)."""

    outcome: Literal["approved", "rejected", "expired"]
    decided_by: list[str] = Field(default_factory=list, description="approver ids it names")
    reason: str | None = Field(default=None, max_length=1000)


class Case(_Model):
    """One evaluation case: a workflow input, what the output must satisfy, tags."""

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    input: dict[str, Any]
    expected: Any = None
    checks: list[Check] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    fixtures: dict[str, Any] = Field(
        default_factory=dict, description="tool name -> result a write tool answers with"
    )
    approvals: dict[str, ApprovalOutcome] = Field(
        default_factory=dict,
        description="approval step id -> its declared outcome; an undeclared step is refused",
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> Case:
        if not self.checks and self.expected is None:
            raise ValueError("a case needs `expected` or at least one check")
        return self

    def effective_checks(self) -> list[Check]:
        """Its checks; a case with only `expected` is an exact match on the whole output."""
        return list(self.checks) if self.checks else [ExactCheck()]


class Thresholds(_Model):
    """What an evaluation must reach for its version to be published."""

    min_pass_rate: float = Field(default=1.0, ge=0, le=1)
    min_pass_rate_by_tag: dict[str, float] = Field(default_factory=dict)
    max_p95_latency_ms: int | None = Field(default=None, ge=0)
    max_cost_per_run_usd: Decimal | None = Field(default=None, ge=0)


class Dataset(_Model):
    """A workflow's dataset version: cases and thresholds, identified by a content hash."""

    workflow: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    thresholds: Thresholds = Thresholds()
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Dataset:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} appears twice")
            seen.add(case.id)
        return self

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of workflow, name, thresholds and cases."""
        body = self.model_dump(mode="json", by_alias=True)
        for case in body["cases"]:
            # Datasets from before approval fixtures keep their hash (and their gate verdicts).
            if not case.get("approvals"):
                case.pop("approvals", None)
        return canonical_hash(body)


def canonical_hash(value: Any) -> str:
    """`sha256:` and the digest of a value's canonical JSON (sorted keys, no spaces)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def parse_cases(text: str) -> list[Case]:
    """Cases from JSON Lines (blank lines and `#` comments skipped); DatasetError names the line."""
    cases: list[Case] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            raw = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"line {number}: not JSON: {exc.msg}") from exc
        try:
            cases.append(Case.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(case)"
            raise DatasetError(f"line {number}: {where}: {first['msg']}") from exc
    if not cases:
        raise DatasetError("the dataset has no cases")
    return cases
