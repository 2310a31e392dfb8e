"""Parse and validate a definition; every issue names the step and the field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import semver
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import ValidationError

from .definition import (
    ApprovalStep,
    ConditionStep,
    GuardrailStep,
    LlmStep,
    MapStep,
    OnFailure,
    StepBase,
    WorkflowDefinition,
    WorkflowStep,
)
from .expressions import ROOT_NAMES, ExpressionError, references, template_names

__all__ = ["DefinitionError", "Issue", "load_yaml", "parse_definition", "semantic_issues"]


@dataclass(frozen=True)
class Issue:
    """One problem: which step (None for the workflow itself), which field, what is wrong."""

    step: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = (
            f"step {self.step!r}, field {self.field!r}" if self.step else f"field {self.field!r}"
        )
        return f"{where}: {self.message}"


class DefinitionError(ValueError):
    """A definition that does not parse or validate; `issues` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


def load_yaml(text: str) -> dict[str, Any]:
    """The YAML document as a mapping; DefinitionError with line and column otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError([Issue(None, "(yaml)", f"invalid YAML{where}: {problem}")]) from None
    if not isinstance(data, dict):
        raise DefinitionError([Issue(None, "(root)", "a definition must be a YAML mapping")])
    return data


def parse_definition(source: str | Mapping[str, Any]) -> WorkflowDefinition:
    """Validate YAML text or a mapping into a definition, or raise DefinitionError."""
    raw = load_yaml(source) if isinstance(source, str) else dict(source)
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError(list(_structural(raw, exc))) from None
    issues = semantic_issues(definition)
    if issues:
        raise DefinitionError(issues)
    return definition


def _structural(raw: Mapping[str, Any], exc: ValidationError) -> Iterator[Issue]:
    listed = raw.get("steps")
    steps: list[Any] = listed if isinstance(listed, list) else []
    for error in exc.errors():
        loc = list(error["loc"])
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            item = steps[loc[1]] if loc[1] < len(steps) else None
            step_id = item.get("id") if isinstance(item, dict) else None
            rest = loc[2:]
            if rest and isinstance(item, dict) and rest[0] == item.get("type"):
                rest = rest[1:]  # the discriminated union's tag is not a field
            field = ".".join(str(p) for p in rest) or (
                "type" if "tag" in error["type"] else "(step)"
            )
            yield Issue(str(step_id or f"#{loc[1]}"), field, error["msg"])
        else:
            yield Issue(None, ".".join(str(p) for p in loc) or "(root)", error["msg"])


def semantic_issues(definition: WorkflowDefinition) -> list[Issue]:
    """Cycles, unknown references, unreachable steps, bad expressions and schemas."""
    issues: list[Issue] = []
    ids = [s.id for s in definition.steps]
    known = set(ids)
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        issues.append(Issue(duplicate, "id", "duplicate step id"))
    compensations = definition.compensation_ids
    for step in definition.steps:
        issues.extend(_step_references(step, known, compensations))
    issues.extend(_branches(definition, known))
    cycle = _cycle(definition)
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        issues.append(Issue(cycle[0], "depends_on", f"dependency cycle: {path}"))
        return issues  # ancestry below is meaningless on a cyclic graph
    ancestors = _ancestors(definition)
    for step in definition.steps:
        # A compensation runs after a failure anywhere, so it may read any step's output.
        visible = known if step.id in compensations else ancestors.get(step.id, set())
        issues.extend(_expressions(step, visible, known))
        issues.extend(_schemas(step.id, "output_schema", step.output_schema))
    issues.extend(_schemas(None, "input_schema", definition.input_schema))
    for key, expression in definition.output.items():
        issues.extend(_expression_issues(None, f"output.{key}", expression, known, known))
    return issues


def _step_references(step: Any, known: set[str], compensations: frozenset[str]) -> list[Issue]:
    issues: list[Issue] = []
    for dep in step.depends_on:
        if dep == step.id:
            issues.append(Issue(step.id, "depends_on", "a step cannot depend on itself"))
        elif dep not in known:
            issues.append(Issue(step.id, "depends_on", f"unknown step {dep!r}"))
        elif dep in compensations:
            issues.append(
                Issue(step.id, "depends_on", f"unreachable: {dep!r} only runs as a compensation")
            )
    if step.compensate is not None:
        if step.compensate not in known:
            issues.append(Issue(step.id, "compensate", f"unknown step {step.compensate!r}"))
        elif step.compensate == step.id:
            issues.append(Issue(step.id, "compensate", "a step cannot compensate itself"))
    if step.id in compensations and step.depends_on:
        issues.append(Issue(step.id, "depends_on", "a compensation step cannot have dependencies"))
    if isinstance(step, MapStep):
        inner = step.step
        if inner.depends_on:
            issues.append(
                Issue(step.id, "step.depends_on", "a map's item step has no dependencies")
            )
        if inner.on_failure is not OnFailure.FAIL:
            issues.append(
                Issue(step.id, "step.on_failure", "set on_failure on the map step, not its item")
            )
    if (
        isinstance(step, WorkflowStep)
        and step.version is not None
        and not semver.Version.is_valid(step.version)
    ):
        issues.append(Issue(step.id, "version", f"{step.version!r} is not a semantic version"))
    return issues


def _branches(definition: WorkflowDefinition, known: set[str]) -> Iterator[Issue]:
    for step in definition.steps:
        if not isinstance(step, ConditionStep):
            continue
        both = set(step.then) & set(step.else_)
        for target in sorted(both):
            yield Issue(step.id, "then", f"{target!r} is in both then and else")
        for field, targets in (("then", step.then), ("else", step.else_)):
            for target in targets:
                if target not in known:
                    yield Issue(step.id, field, f"unknown step {target!r}")
                elif step.id not in definition.step(target).depends_on:
                    yield Issue(
                        target,
                        "depends_on",
                        f"is in the {field} branch of {step.id!r}; "
                        f"list {step.id!r} in its depends_on",
                    )


def _cycle(definition: WorkflowDefinition) -> list[str]:
    graph = {s.id: [d for d in s.depends_on if d != s.id] for s in definition.steps}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return path[path.index(dep) :]
            if dep in graph and dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return list(reversed(found))
    return []


def _ancestors(definition: WorkflowDefinition) -> dict[str, set[str]]:
    deps = {s.id: set(s.depends_on) for s in definition.steps}
    memo: dict[str, set[str]] = {}

    def of(node: str) -> set[str]:
        if node not in memo:
            memo[node] = set()
            for dep in deps.get(node, set()):
                memo[node] |= {dep, *of(dep)}
        return memo[node]

    return {node: of(node) for node in deps}


def _expressions(step: Any, ancestors: set[str], known: set[str]) -> Iterator[Issue]:
    for name, expression in step.inputs.items():
        yield from _expression_issues(step.id, f"inputs.{name}", expression, ancestors, known)
    if isinstance(step, ConditionStep):
        yield from _expression_issues(step.id, "if", step.if_, ancestors, known)
    if isinstance(step, MapStep):
        yield from _expression_issues(step.id, "over", step.over, ancestors, known)
        inner: StepBase = step.step
        for name, expression in inner.inputs.items():
            field = f"step.inputs.{name}"
            yield from _expression_issues(step.id, field, expression, ancestors, known, item=True)
        yield from _templates(step.id, "step.", inner)
        yield from _schemas(step.id, "step.output_schema", inner.output_schema)
    yield from _templates(step.id, "", step)


def _templates(step_id: str, prefix: str, step: Any) -> Iterator[Issue]:
    fields: list[tuple[str, str | None]] = []
    if isinstance(step, LlmStep):
        fields = [("prompt", step.prompt), ("system", step.system)]
    elif isinstance(step, ApprovalStep):
        fields = [("subject", step.subject)]
    for field, template in fields:
        for name in sorted(template_names(template or "") - set(step.inputs)):
            yield Issue(
                step_id, f"{prefix}{field}", f"placeholder {{{{ {name} }}}} is not an input"
            )
    if isinstance(step, GuardrailStep) and "content" not in step.inputs:
        yield Issue(step_id, f"{prefix}inputs", "a guardrail step needs inputs.content")


def _expression_issues(
    step_id: str | None,
    field: str,
    expression: str,
    visible: set[str],
    known: set[str],
    *,
    item: bool = False,
) -> Iterator[Issue]:
    try:
        refs = references(expression)
    except ExpressionError as exc:
        yield Issue(step_id, field, str(exc))
        return
    allowed = ROOT_NAMES if item else ROOT_NAMES - {"item", "index"}
    for ref in refs:
        if ref.root not in allowed:
            yield Issue(
                step_id, field, f"{expression!r} reads {ref.root!r}; use one of {sorted(allowed)}"
            )
        elif ref.step is not None and ref.step not in known:
            yield Issue(step_id, field, f"{expression!r} references unknown step {ref.step!r}")
        elif ref.step is not None and ref.step not in visible:
            yield Issue(
                step_id,
                field,
                f"{expression!r} reads step {ref.step!r}, which is not among its dependencies",
            )


def _schemas(step_id: str | None, field: str, schema: dict[str, Any] | None) -> Iterator[Issue]:
    if schema is None:
        return
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        yield Issue(step_id, field, f"not a valid JSON Schema: {exc.message}")
