"""JSON columns: orjson's text reads back as the standard library's would."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from agentbus.storage.jsoncodec import dump_json

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_DOCUMENTS)
def test_a_document_reads_back_as_it_was_written(value: object) -> None:
    assert json.loads(dump_json(value)) == value


def test_integers_beyond_64_bits_are_written_exactly() -> None:
    big = {"n": 2**70, "m": -(2**80)}
    assert json.loads(dump_json(big)) == big


def test_non_string_keys_become_strings_like_the_standard_library() -> None:
    value = {1: "a", 2.5: "b", None: "c"}
    assert json.loads(dump_json(value)) == json.loads(json.dumps(value))


def test_numbers_json_cannot_hold_are_written_as_null() -> None:
    assert json.loads(dump_json([math.nan, math.inf])) == [None, None]
