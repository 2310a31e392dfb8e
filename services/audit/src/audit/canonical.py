"""RFC 8785 (JCS) canonical JSON: orjson where it provably agrees, rfc8785 elsewhere."""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

__all__ = ["canonical_json", "needs_full_jcs"]

# JCS writes numbers as ECMAScript does; orjson agrees for integers in the IEEE-754 exact
# range, not for every float (exponents), so floats take the reference implementation.
_MAX_EXACT = 2**53 - 1
_LEAVES = frozenset({str, bool, type(None)})


def needs_full_jcs(value: Any) -> bool:
    """True when orjson's sorted output could differ from JCS for `value`."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, child in item.items():
                # JCS sorts keys by UTF-16 code units, orjson by code points: equal for ASCII.
                if not key.isascii():
                    return True
                if type(child) not in _LEAVES:
                    stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif kind is float or (kind is int and not -_MAX_EXACT <= item <= _MAX_EXACT):
            return True
    return False


def canonical_json(value: Any) -> bytes:
    """The JCS bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    if needs_full_jcs(value):
        return rfc8785.dumps(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
