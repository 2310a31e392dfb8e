"""JSON Schema checks for tool arguments and results, naming the failing field."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from .domain import canonical_json

__all__ = ["SchemaProblemError", "check_schema", "first_problem"]


class SchemaProblemError(ValueError):
    """A tool's own schema is not a valid JSON Schema."""


def check_schema(schema: dict[str, Any]) -> None:
    """Raise SchemaProblemError when `schema` is not valid Draft 2020-12."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise SchemaProblemError(f"invalid JSON Schema: {exc.message}") from exc


@lru_cache(maxsize=512)
def _validator(schema_json: bytes) -> Draft202012Validator:
    import json

    return Draft202012Validator(json.loads(schema_json))


# Definitions are parsed once per content hash, so the same schema object comes back call
# after call: find its validator by identity (the entry keeps the object, so its id stays
# its own) before paying for the canonical JSON.
_BY_ID: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def _validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    entry = _BY_ID.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    validator = _validator(canonical_json(schema))
    if len(_BY_ID) >= 1024:
        _BY_ID.clear()
    _BY_ID[id(schema)] = (schema, validator)
    return validator


def first_problem(schema: dict[str, Any], value: Any) -> tuple[str, str] | None:
    """(field path, reason) of the first violation, or None when `value` is valid.

    The reason never quotes the value: arguments may hold secrets or personal data.
    """
    validator = _validator_for(schema)
    if validator.is_valid(value):
        return None
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    error: ValidationError = errors[0]
    path = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.validator_value, list):
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [name for name in error.validator_value if name not in present]
        field = "/".join(filter(None, [path, missing[0] if missing else ""]))
        return field or "(root)", "is required"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        field = "/".join(filter(None, [path, extra[0] if extra else ""]))
        return field or "(root)", "is not allowed"
    return path or "(root)", f"fails '{error.validator}' ({_constraint(error)})"


def _constraint(error: ValidationError) -> str:
    value = error.validator_value
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return f"{error.validator}={text}"[:120]
