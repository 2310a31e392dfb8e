"""Output validation against the JSON Schema a step declares, without echoing values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .content import pointer

__all__ = ["SchemaViolation", "schema_violations"]

_MAX_VIOLATIONS = 20


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One failing location: JSON Pointer and which keyword failed (never the value)."""

    path: str
    message: str


def schema_violations(content: Any, schema: dict[str, Any]) -> list[SchemaViolation]:
    """Violations of `schema` by `content` (a JSON string is parsed first)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [SchemaViolation("", f"the declared output schema is invalid: {exc.message}")]
    if isinstance(content, str) and schema.get("type") != "string":
        try:
            content = json.loads(content)
        except ValueError:
            return [SchemaViolation("", "output is not JSON")]
    validator = Draft202012Validator(schema)
    found = []
    for error in sorted(validator.iter_errors(content), key=lambda e: list(e.absolute_path))[
        :_MAX_VIOLATIONS
    ]:
        # error.message quotes the instance (possibly PII); describe the keyword instead.
        expected = json.dumps(error.validator_value, default=str)[:120]
        where = pointer(tuple(error.absolute_path)) or "/"
        found.append(SchemaViolation(where, f"{where} fails '{error.validator}' ({expected})"))
    return found
