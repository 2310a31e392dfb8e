"""JSON Schema failures described without the offending value (it may be PII or a secret)."""

from __future__ import annotations

from jsonschema.exceptions import ValidationError

__all__ = ["describe"]

_LIMIT = 200


def describe(error: ValidationError) -> str:
    """Where the value fails and which rule, e.g. `at amount: must be of type 'number'`."""
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    rule = error.validator
    if rule == "required":
        # Names the missing key, never a value.
        return f"at {where}: {error.message}"[:_LIMIT]
    if rule == "type":
        return f"at {where}: must be of type {error.validator_value!r}"[:_LIMIT]
    return f"at {where}: fails {rule!s} {error.validator_value!r}"[:_LIMIT]
