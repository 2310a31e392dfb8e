"""The compatibility rules of contracts.compat.breaking_changes."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.compat import breaking_changes

Schema = dict[str, Any]


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


def optional(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}], "default": None}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
COLOUR: Schema = {"$ref": "#/$defs/Colour"}


def with_colours(schema: Schema, *values: str) -> Schema:
    return {**schema, "$defs": {"Colour": {"type": "string", "enum": list(values)}}}


def test_identical_schemas_are_compatible() -> None:
    schema = obj(("a",), a=STR, b=optional(INT))
    assert breaking_changes(schema, schema) == []


def test_removed_property_breaks() -> None:
    assert breaking_changes(obj(a=STR, b=INT), obj(a=STR)) == ["b: property removed"]


def test_removed_optional_property_breaks_too() -> None:
    assert breaking_changes(obj(a=STR, b=optional(INT)), obj(a=STR)) == ["b: property removed"]


def test_retyped_property_breaks() -> None:
    problems = breaking_changes(obj(a=STR), obj(a=INT))
    assert problems == ["a: type changed from string to integer"]


def test_integer_to_number_is_a_type_change() -> None:
    assert breaking_changes(obj(a=INT), obj(a={"type": "number"})) != []


def test_optional_becoming_non_nullable_breaks() -> None:
    problems = breaking_changes(obj(a=optional(STR)), obj(a=STR))
    assert problems == ["a: type changed from null | string to string"]


def test_nullable_added_breaks_old_readers() -> None:
    assert breaking_changes(obj(("a",), a=STR), obj(("a",), a=optional(STR))) != []


def test_retyped_inside_optional_breaks() -> None:
    problems = breaking_changes(obj(a=optional(STR)), obj(a=optional(INT)))
    assert problems == ["a: type changed from null | string to integer | null"]


def test_type_list_form_equals_any_of_form() -> None:
    assert breaking_changes(obj(a=optional(STR)), obj(a={"type": ["string", "null"]})) == []


def test_new_required_property_breaks() -> None:
    problems = breaking_changes(obj(("a",), a=STR), obj(("a", "b"), a=STR, b=INT))
    assert problems == ["b: new required property"]


def test_property_becoming_required_breaks() -> None:
    problems = breaking_changes(obj(("a",), a=STR, b=INT), obj(("a", "b"), a=STR, b=INT))
    assert problems == ["b: property became required"]


def test_new_optional_property_is_allowed() -> None:
    assert breaking_changes(obj(("a",), a=STR), obj(("a",), a=STR, b=optional(INT))) == []


def test_property_becoming_optional_is_allowed() -> None:
    assert breaking_changes(obj(("a", "b"), a=STR, b=INT), obj(("a",), a=STR, b=INT)) == []


def test_enum_losing_a_value_through_ref_breaks() -> None:
    old = with_colours(obj(c=COLOUR), "red", "green")
    new = with_colours(obj(c=COLOUR), "red")
    assert breaking_changes(old, new) == ['c: enum lost value(s) "green"']


def test_new_enum_value_is_allowed() -> None:
    old = with_colours(obj(c=COLOUR), "red")
    new = with_colours(obj(c=COLOUR), "red", "green")
    assert breaking_changes(old, new) == []


def test_free_string_becoming_enum_breaks() -> None:
    assert breaking_changes(obj(c=STR), with_colours(obj(c=COLOUR), "red")) != []


def test_array_item_type_change_breaks() -> None:
    old = obj(tags={"type": "array", "items": STR})
    new = obj(tags={"type": "array", "items": INT})
    assert breaking_changes(old, new) == ["tags[]: type changed from string to integer"]


def test_nested_object_changes_are_found_through_refs() -> None:
    old = {**obj(step={"$ref": "#/$defs/Step"}), "$defs": {"Step": obj(("id",), id=STR, n=INT)}}
    new = {**obj(step={"$ref": "#/$defs/StepV2"}), "$defs": {"StepV2": obj(("id",), id=INT)}}
    assert breaking_changes(old, new) == [
        "step.id: type changed from string to integer",
        "step.n: property removed",
    ]


def test_renamed_definition_with_same_shape_is_compatible() -> None:
    old = {**obj(step={"$ref": "#/$defs/A"}), "$defs": {"A": obj(("id",), id=STR)}}
    new = {**obj(step={"$ref": "#/$defs/B"}), "$defs": {"B": obj(("id",), id=STR)}}
    assert breaking_changes(old, new) == []


def test_objects_in_arrays_are_compared() -> None:
    old = obj(items={"type": "array", "items": obj(("x",), x=STR)})
    new = obj(items={"type": "array", "items": obj(("x", "y"), x=STR, y=STR)})
    assert breaking_changes(old, new) == ["items[].y: new required property"]


def test_map_value_type_change_breaks() -> None:
    old = obj(m={"type": "object", "additionalProperties": STR})
    new = obj(m={"type": "object", "additionalProperties": INT})
    assert breaking_changes(old, new) == ["m.*: type changed from string to integer"]


def test_any_value_becoming_typed_breaks() -> None:
    assert breaking_changes(obj(v={}), obj(v=STR)) == ["v: type changed from any to string"]


def test_recursive_definitions_terminate() -> None:
    node = obj(("name",), name=STR, children={"type": "array", "items": {"$ref": "#/$defs/N"}})
    schema = {"$ref": "#/$defs/N", "$defs": {"N": node}}
    assert breaking_changes(schema, schema) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"maxLength": 10}, {"maxLength": 20}),
        ({"minLength": 5}, {"minLength": 1}),
        ({"pattern": "^a$"}, {}),
        ({"maxLength": 10}, {}),
    ],
)
def test_relaxed_constraints_are_allowed(old: Schema, new: Schema) -> None:
    assert breaking_changes(obj(a={**STR, **old}), obj(a={**STR, **new})) == []


@pytest.mark.parametrize(
    ("old", "new", "word"),
    [
        ({"maxLength": 20}, {"maxLength": 10}, "maxLength"),
        ({}, {"minLength": 1}, "minLength"),
        ({"pattern": "^a$"}, {"pattern": "^b$"}, "pattern"),
        ({}, {"format": "date-time"}, "format"),
    ],
)
def test_tightened_constraints_break(old: Schema, new: Schema, word: str) -> None:
    problems = breaking_changes(obj(a={**STR, **old}), obj(a={**STR, **new}))
    assert len(problems) == 1
    assert problems[0].startswith(f"a: {word} ")


def test_numeric_bounds() -> None:
    assert breaking_changes(obj(n={**INT, "maximum": 5}), obj(n={**INT, "maximum": 9})) == []
    assert breaking_changes(obj(n={**INT, "minimum": 0}), obj(n={**INT, "minimum": 1})) != []


def test_description_title_and_default_changes_are_allowed() -> None:
    old = obj(a={**STR, "description": "old", "title": "A", "default": "x"})
    new = obj(a={**STR, "description": "new", "title": "Aa", "default": "y"})
    assert breaking_changes(old, new) == []


def test_closing_an_open_object_breaks() -> None:
    old = obj(m={"type": "object"})
    new = obj(m={"type": "object", "additionalProperties": False})
    assert breaking_changes(old, new) == ["m: additional properties are no longer allowed"]


def test_every_problem_is_reported() -> None:
    old = obj(("a",), a=STR, b=INT, c=STR)
    new = obj(("a", "d"), a=INT, c=STR, d=STR)
    assert breaking_changes(old, new) == [
        "a: type changed from string to integer",
        "b: property removed",
        "d: new required property",
    ]


def test_an_any_alternative_absorbs_the_others() -> None:
    assert breaking_changes(obj(v={}), obj(v=optional({}))) == []
