"""canonical_json is RFC 8785 (JCS): equal to the reference implementation on any JSON value."""

from __future__ import annotations

import random
from typing import Any

import rfc8785
from audit.canonical import canonical_json, needs_full_jcs


def random_text(rng: random.Random) -> str:
    points = [
        rng.randint(0, 0x7F),
        rng.randint(0x80, 0xD7FF),
        rng.randint(0xE000, 0xFFFF),
        rng.randint(0x10000, 0x10FFFF),
    ]
    return "".join(chr(rng.choice(points)) for _ in range(rng.randint(0, 6)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.choice(
        ["str", "int", "float", "bool", "none", "list", "dict"]
        if depth < 3
        else ["str", "int", "float"]
    )
    if kind == "str":
        return "".join(
            chr(
                rng.choice(
                    [
                        rng.randint(0, 0x7F),
                        rng.randint(0x80, 0xD7FF),
                        rng.randint(0xE000, 0xFFFF),
                        rng.randint(0x10000, 0x10FFFF),
                    ]
                )
            )
            for _ in range(rng.randint(0, 6))
        )
    if kind == "int":
        return rng.choice([rng.randint(-1000, 1000), rng.randint(-(2**53) + 1, 2**53 - 1)])
    if kind == "float":
        return rng.choice(
            [
                rng.uniform(-1e6, 1e6),
                float(rng.randint(0, 100)),
                1e16,
                1e21,
                1e-7,
                0.1,
                -0.0,
                5e-324,
            ]
        )
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        random_text(rng) if rng.random() < 0.3 else f"k{rng.randint(0, 99)}": random_value(
            rng, depth + 1
        )
        for _ in range(rng.randint(0, 5))
    }


def test_equals_the_reference_on_random_values() -> None:
    rng = random.Random(8785)
    for _ in range(3000):
        value = {"data": random_value(rng), "seq": rng.randint(1, 10**9)}
        assert canonical_json(value) == rfc8785.dumps(value)


def test_takes_the_fast_path_only_where_it_agrees() -> None:
    assert not needs_full_jcs({"a": [1, "x", None, True, {"b": "é"}]})
    assert needs_full_jcs({"a": 1.0})
    assert needs_full_jcs({"é": 1})
    assert needs_full_jcs({"a": [2**60]})
    assert canonical_json({"b": 100.0, "a": 1e21}) == b'{"a":1e+21,"b":100}'


def test_sorts_keys_by_utf16_code_units() -> None:
    # U+FF21 sorts after U+1F600 in UTF-16 (0xD83D < 0xFF21), before it in code points.
    value = {"\uff21": 1, "\U0001f600": 2}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("\U0001f600".encode()) < canonical_json(value).index(
        "\uff21".encode()
    )


def test_chain_entries_are_jcs_too() -> None:
    from audit.chain import entry

    rng = random.Random(19)
    for _ in range(1000):
        fields = {
            "seq": rng.randint(1, 10**6),
            "tenant_id": random_text(rng) or "t",
            "event_id": "e",
            "event_type": "agentbus.audit.recorded.v1",
            "source": "s",
            "time": "2026-01-01T00:00:00+00:00",
            "run_id": rng.choice([None, "run-1"]),
            "data": {"details": random_value(rng), "action": "a.b"},
        }
        expected = {**fields, "type": fields["event_type"]}
        del expected["event_type"]
        assert entry(**fields) == rfc8785.dumps(expected)
