"""Definitions: parsing, precise validation issues, hashing, lifecycle, expressions."""

from __future__ import annotations

from pathlib import Path

import pytest
from planner.expressions import Reference, references, render
from planner.validation import DefinitionError, parse_definition
from planner.versions import Action, LifecycleError, Status, content_hash, latest, next_status

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def issues(source: str) -> set[tuple[str | None, str]]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(source)
    return {(i.step, i.field) for i in caught.value.issues}


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_example_workflows_validate(path):
    definition = parse_definition(path.read_text())
    assert definition.name == path.stem


def test_cycle_unknown_reference_and_unreachable_steps_are_named():
    found = issues(
        """
name: bad
version: 1.0.0
steps:
  - {id: a, type: tool, tool: t, depends_on: [c]}
  - {id: b, type: tool, tool: t, depends_on: [a, ghost]}
  - {id: c, type: tool, tool: t, depends_on: [b]}
  - {id: d, type: tool, tool: t, depends_on: [undo], on_failure: continue}
  - {id: e, type: tool, tool: t, on_failure: compensate, compensate: undo}
  - {id: undo, type: tool, tool: t}
"""
    )
    assert ("b", "depends_on") in found  # unknown ghost
    assert ("d", "depends_on") in found  # unreachable: depends on a compensation
    assert any(field == "depends_on" and step in "abc" for step, field in found)  # the cycle


def test_expression_and_template_errors_name_the_field():
    found = issues(
        """
name: bad
version: 1.0.0
steps:
  - {id: a, type: tool, tool: t, inputs: {x: "input.[["}}
  - {id: b, type: llm, prompt: "{{ y }}", inputs: {z: secrets.key}}
  - id: m
    type: map
    over: input.items
    step: {type: tool, tool: t, inputs: {v: item.value, w: steps.a.output}}
  - {id: g, type: guardrail}
  - {id: c, type: condition, if: "`true`", then: [a]}
"""
    )
    assert ("a", "inputs.x") in found  # does not parse
    assert ("b", "prompt") in found  # placeholder not an input
    assert ("b", "inputs.z") in found  # reads an unknown root
    assert ("m", "step.inputs.w") in found  # reads a step that is not a dependency
    assert ("g", "inputs") in found  # a guardrail needs content
    assert ("a", "depends_on") in found  # in c's branch without depending on it


def test_type_errors_and_bad_versions():
    found = issues(
        """
name: bad
version: one
steps:
  - {id: a, type: tool, tool: t, timeout_s: -1, on_failure: compensate}
  - {id: B, type: llm}
"""
    )
    assert (None, "version") in found
    assert ("a", "timeout_s") in found
    assert ("B", "id") in found
    assert ("B", "prompt") in found


def test_compensate_needs_a_step():
    found = issues(
        "name: c\nversion: 1.0.0\nsteps: [{id: a, type: tool, tool: t, on_failure: compensate}]"
    )
    assert found == {("a", "(step)")}


def test_invalid_yaml_says_where():
    with pytest.raises(DefinitionError, match=r"invalid YAML at line 4, column 1"):
        parse_definition("name: x\nsteps:\n- a: [\n")


def test_content_hash_is_canonical():
    one = parse_definition("name: h\nversion: 1.0.0\nsteps: [{id: a, type: tool, tool: t}]")
    two = parse_definition(
        "version: 1.0.0\nsteps:\n  - tool: t\n    type: tool\n    id: a\n    retry: {}\nname: h\n"
    )
    three = parse_definition("name: h\nversion: 1.0.0\nsteps: [{id: a, type: tool, tool: u}]")
    assert content_hash(one) == content_hash(two) != content_hash(three)
    assert content_hash(one).startswith("sha256:")


def test_lifecycle_order_and_separation_of_duties():
    assert next_status(Status.DRAFT, Action.SUBMIT, author="a", actor="a") is Status.IN_REVIEW
    with pytest.raises(LifecycleError) as own:
        next_status(Status.IN_REVIEW, Action.APPROVE, author="a", actor="a")
    assert own.value.code == "workflow.self_review"
    with pytest.raises(LifecycleError) as order:
        next_status(Status.DRAFT, Action.PUBLISH, author="a", actor="b")
    assert order.value.code == "workflow.invalid_transition"
    assert next_status(Status.APPROVED, Action.PUBLISH, author="a", actor="a") is Status.PUBLISHED
    assert latest(["1.2.0", "1.10.0", "1.9.1"]) == "1.10.0"


def test_references_see_only_the_root_context():
    assert references("input.items[?price > `10`].name") == [Reference("input")]
    assert references("{a: steps.x.output, b: length(steps.y.output)}") == [
        Reference("steps", "x"),
        Reference("steps", "y"),
    ]
    assert render("Hi {{ name }}: {{ data }}", {"name": "Ann", "data": {"b": 1}}) == (
        'Hi Ann: {"b":1}'
    )


def test_schema_failures_never_quote_the_value():
    from jsonschema import Draft202012Validator
    from planner.schema_errors import describe

    schema = {
        "type": "object",
        "required": ["iban"],
        "properties": {"email": {"type": "integer"}, "code": {"pattern": "^[0-9]+$"}},
    }
    value = {"email": "ann@example.com", "code": "secret-token"}
    messages = sorted(describe(e) for e in Draft202012Validator(schema).iter_errors(value))
    assert messages == [
        "at (root): 'iban' is a required property",
        "at code: fails pattern '^[0-9]+$'",
        "at email: must be of type 'integer'",
    ]
    assert not any("ann@" in m or "secret-token" in m for m in messages)
