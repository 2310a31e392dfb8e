"""How JSON columns are written: orjson, with the standard library where orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dump_json"]

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dump_json(value: Any) -> str:
    """`value` as JSON text for a JSON column.

    orjson writes the same JSON value as `json.dumps` (without its spaces; keys in
    insertion order, non-string keys as strings) about ten times faster; SQLAlchemy's default called
    `json.dumps` for every outbox row and run state, a few per cent of a service's CPU.
    What orjson refuses (integers beyond 64 bits) goes through `json.dumps` as before.
    Floats that are not numbers (NaN, ±Infinity) are written as null: JSON has no such
    numbers, and PostgreSQL refuses them.
    """
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)
