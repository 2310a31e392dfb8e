"""RFC 8785 (JCS) canonical JSON: orjson where it provably agrees, rfc8785 elsewhere.

orjson's compact output with sorted keys equals JCS for every value except three kinds
(docs/adr/0601): floats (ECMAScript number formatting differs from orjson's), integers
beyond +-(2**53 - 1) (JCS refuses them), and object keys with characters at or above
U+E000 (JCS sorts keys by UTF-16 code units, orjson by code points). The fast path
serialises once and inspects the bytes for any trace of those kinds; only a suspect value
is examined further, and only a real one takes the reference implementation.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import rfc8785

__all__ = ["canonical_json", "json_string", "needs_full_jcs", "suspect"]

_MAX_EXACT = 2**53 - 1
_LEAVES = frozenset({str, bool, type(None)})
# Integers beyond 53 bits make orjson raise instead of writing them.
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# A float token of compact JSON: digits with a fraction and/or an exponent. Possessive
# runs (`++`): giving digits back could only put a digit where `.`, `e` or `,` must be.
_FLOAT = rb"-?[0-9]++(?:\.[0-9]++(?:[eE][-+]?[0-9]++)?|[eE][-+]?[0-9]++)"
# Compact JSON has no whitespace, so a float in an object follows `:` and ends at `,` or
# `}`, one in an array follows `[` or `,` and ends at `,` or `]`. A string can match only
# by containing such text (`"x:1.5}"`): a false alarm, never a miss. Times (`08:57:37.6+`)
# do not match, so contract records stay on the fast path.
_FLOAT_VALUE = re.compile(rb":" + _FLOAT + rb"[,}]")
_FLOAT_ITEM = re.compile(rb"[\[,]" + _FLOAT + rb"[,\]]")
# UTF-8 lead bytes 0xEE-0xF4 start every character at or above U+E000.
_HIGH = re.compile(rb"[\xee-\xf4]")
_SCALAR_NUMBER = frozenset(b"-0123456789")


def suspect(out: bytes) -> bool:
    """True when orjson's sorted output `out` may hold a float or a key sorted otherwise."""
    return (
        out[0] in _SCALAR_NUMBER
        or _FLOAT_VALUE.search(out) is not None
        or (b"[" in out and _FLOAT_ITEM.search(out) is not None)
        or (not out.isascii() and _HIGH.search(out) is not None)
    )


def needs_full_jcs(value: Any) -> bool:
    """True when orjson's sorted output could differ from JCS for `value` (a tree walk)."""
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
    try:
        out = orjson.dumps(value, option=_SORTED)
    except orjson.JSONEncodeError:
        return rfc8785.dumps(value)
    if not suspect(out) or not needs_full_jcs(value):
        return out
    return rfc8785.dumps(value)


def json_string(text: str) -> bytes:
    """The JCS bytes of a string (orjson escapes strings exactly as JCS does)."""
    return orjson.dumps(text)
