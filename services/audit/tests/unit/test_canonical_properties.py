"""Property tests: the orjson fast path of canonical_json equals RFC 8785's reference.

Hypothesis generates JSON values with unicode (every plane, the U+E000/U+10000 sort
boundary, control characters, quotes and backslashes), integers around the 53-bit limit
and any finite float; the reference implementation (rfc8785) decides what is right.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import rfc8785
from audit.canonical import canonical_json, json_string, suspect
from audit.chain import entry
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

_LIMIT = 2**53 - 1
# Characters where JSON serialisers tend to disagree: controls, escapes, DEL, the line
# separators, the last BMP characters before and after the surrogates, private use, and
# characters beyond the BMP (stored as surrogate pairs in UTF-16).
_TRICKY = "\x00\x01\x08\t\n\x0b\x0c\r\x1f \"'\\/\x7f\x80\xa0\u2028\u2029\ud7ff\ue000\uffff"
_TRICKY += "\U00010000\U0001f600\U0010ffff"
texts = st.text() | st.text(alphabet=_TRICKY + "ab1.e:,[") | st.sampled_from(["", "a", "A", "é"])
integers = st.integers(min_value=-_LIMIT, max_value=_LIMIT) | st.sampled_from(
    [0, -1, _LIMIT, -_LIMIT, _LIMIT + 1, -_LIMIT - 1, 2**64, -(2**63)]
)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 0.1, 1e16, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 2.0**53]
)
leaves = st.none() | st.booleans() | integers | floats | texts
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=30,
)


def reference(value: Any) -> bytes | type[Exception]:
    """The RFC 8785 bytes, or the exception class when JCS has no form for the value."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError):
        return Exception


def ours(value: Any) -> bytes | type[Exception]:
    try:
        return canonical_json(value)
    except (rfc8785.CanonicalizationError, ValueError):
        return Exception


# No example database: nothing is written into the working tree (.hypothesis/).
_SETTINGS = settings(
    max_examples=800,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


@_SETTINGS
@given(json_values)
@example({"\ue000": 1, "\U0001f600": 2})
@example({"a": 1.0, "b": [1e16, -0.0]})
@example({"n": _LIMIT + 1})
@example('\x00\x1f\x7f\u2028"\\/\b\t\n\f\r')
def test_canonical_json_equals_the_reference(value: Any) -> None:
    assert ours(value) == reference(value)


@_SETTINGS
@given(json_values)
def test_the_fast_path_flags_every_value_where_orjson_differs(value: Any) -> None:
    # The proof obligation of the fast path: wherever orjson's bytes are not JCS, the
    # bytes themselves give it away, so the cheap check never lets a wrong form through.
    try:
        fast = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError:
        return
    if fast != reference(value):
        assert suspect(fast)


@_SETTINGS
@given(texts)
def test_strings_are_written_as_jcs_writes_them(text: str) -> None:
    assert json_string(text) == rfc8785.dumps(text)


@settings(max_examples=300, deadline=None, database=None)
@given(
    data=st.dictionaries(texts, json_values, max_size=6),
    seq=st.integers(min_value=1, max_value=_LIMIT),
    ids=st.tuples(texts, texts, texts, texts, texts),
    run_id=st.none() | texts,
)
def test_a_chain_entry_is_the_jcs_of_its_fields(
    data: dict[str, Any], seq: int, ids: tuple[str, str, str, str, str], run_id: str | None
) -> None:
    event_id, event_type, source, tenant, time = ids
    fields = {
        "data": data,
        "event_id": event_id,
        "run_id": run_id,
        "seq": seq,
        "source": source,
        "tenant_id": tenant,
        "time": time,
        "type": event_type,
    }
    expected = reference(fields)
    if expected is Exception:
        with pytest.raises((rfc8785.CanonicalizationError, ValueError)):
            entry(seq=seq, tenant_id=tenant, event_id=event_id, event_type=event_type,
                  source=source, time=time, run_id=run_id, data=data)  # fmt: skip
        return
    body = entry(seq=seq, tenant_id=tenant, event_id=event_id, event_type=event_type,
                 source=source, time=time, run_id=run_id, data=data)  # fmt: skip
    assert body == expected


def test_a_contract_record_takes_the_fast_path() -> None:
    record = {
        "actor": {"kind": "service", "id": "model-router"},
        "occurred_at": "2026-11-21T08:57:37.603030+00:00",
        "details": {"note": "a, b: c", "i": 3, "text": 'say "hi"\n'},
        "usage": {"prompt_tokens": 100, "completion_tokens": 20},
        "cost_usd": "0.000150",
    }
    assert not suspect(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    assert suspect(orjson.dumps({"x": [1, 2.5]}))
    assert suspect(orjson.dumps({"x": -1e-7}))
    assert suspect(orjson.dumps(1.5))
    assert suspect(orjson.dumps({"\ue000": 1}))
