"""The hash chain names the first bad seq for each kind of tampering; checkpoints need our key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from audit.chain import GENESIS, Chain, Link, entry, link_hash, verify_chain
from audit.export import checkpoint_line, link_line, read_export
from audit.signing import (
    CheckpointSigner,
    CheckpointVerifier,
    generate_private_key,
    load_private_key,
)

TENANT = "acme"
SIGNER = CheckpointSigner(load_private_key(generate_private_key()))
TRUST = CheckpointVerifier(SIGNER.public_key)


def body(seq: int, n: int = 0) -> bytes:
    return entry(
        seq=seq,
        tenant_id=TENANT,
        event_id=f"evt-{n or seq}",
        event_type="agentbus.audit.recorded.v1",
        source="planner",
        time="2026-01-01T00:00:00+00:00",
        run_id="run-1",
        data={"action": "run.start", "n": n or seq},
    )


def links(count: int = 10) -> list[Link]:
    chain = Chain()
    return [chain.append(TENANT, body) for _ in range(count)]


def reseal(items: list[Link], start: int) -> list[Link]:
    """Recompute links from index `start` on, as a careful forger would."""
    prev = items[start - 1].hash if start else GENESIS
    out = items[:start]
    for link in items[start:]:
        digest = link_hash(prev, link.body)
        out.append(dataclasses.replace(link, prev_hash=prev, hash=digest))
        prev = digest
    return out


def check(items: list[Link], checkpoints=()):  # type: ignore[no-untyped-def]
    return verify_chain(TENANT, items, checkpoints, TRUST)


def test_an_untouched_chain_verifies() -> None:
    result = check(links())
    assert result.ok
    assert result.records == 10
    assert result.head_seq == 10


def test_modification_names_its_seq() -> None:
    items = links()
    items[4] = dataclasses.replace(items[4], body=items[4].body.replace(b"run.start", b"run.stop"))
    result = check(items)
    assert result.first_bad_seq == 5
    assert result.problems[0].kind == "modified"


def test_deletion_names_the_missing_seq() -> None:
    items = links()
    del items[3]
    result = check(items)
    assert result.first_bad_seq == 4
    assert result.problems[0].kind == "missing"


def test_deletion_with_renumbering_names_the_first_moved_seq() -> None:
    items = links()
    del items[3]
    items = [dataclasses.replace(link, seq=i + 1) for i, link in enumerate(items)]
    result = check(items)
    assert result.first_bad_seq == 4


def test_forged_insertion_with_renumbering_names_the_inserted_seq() -> None:
    items = links()
    forged_body = body(4, n=99)
    forged = Link(TENANT, 4, items[2].hash, link_hash(items[2].hash, forged_body), forged_body)
    shifted = [dataclasses.replace(link, seq=link.seq + 1) for link in items[3:]]
    result = check([*items[:3], forged, *shifted])
    assert result.first_bad_seq == 4


def test_reordering_names_the_first_moved_seq() -> None:
    items = links()
    items[5], items[6] = items[6], items[5]
    assert check(items).first_bad_seq == 6
    renumbered = [dataclasses.replace(link, seq=i + 1) for i, link in enumerate(items)]
    assert check(renumbered).first_bad_seq == 6


def test_a_resealed_rewrite_is_caught_by_a_checkpoint() -> None:
    items = links()
    mark = SIGNER.sign(TENANT, 8, items[7].hash, "2026-01-01T00:00:00+00:00")
    assert check(items, [mark]).ok
    items[5] = dataclasses.replace(items[5], body=body(6, n=42))
    forged = reseal(items, 5)
    assert check(forged).ok  # without a checkpoint a full rewrite is undetectable
    result = check(forged, [mark])
    assert result.problems[0].kind == "rewritten"
    assert result.first_bad_seq == 1


def test_truncation_after_a_checkpoint_is_caught() -> None:
    items = links()
    mark = SIGNER.sign(TENANT, 10, items[9].hash, "2026-01-01T00:00:00+00:00")
    result = check(items[:7], [mark])
    assert result.problems[0].kind == "truncated"
    assert result.first_bad_seq == 8


def test_a_checkpoint_signed_by_another_key_is_rejected() -> None:
    items = links()
    rogue = CheckpointSigner(load_private_key(generate_private_key()))
    mark = rogue.sign(TENANT, 10, items[9].hash, "2026-01-01T00:00:00+00:00")
    result = check(items, [mark])
    assert result.problems[0].kind == "bad_signature"
    assert rogue.key_id in result.problems[0].message


def test_signatures_are_deterministic() -> None:
    one = SIGNER.sign(TENANT, 3, "ab" * 32, "2026-01-01T00:00:00+00:00")
    two = SIGNER.sign(TENANT, 3, "ab" * 32, "2026-01-01T00:00:00+00:00")
    assert one == two


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("modify", 3),
        ("delete", 3),
        ("insert", 3),
        ("reorder", 3),
    ],
)
def test_tampering_with_an_export_file_names_the_first_bad_seq(
    tmp_path: Path, tamper: str, first_bad: int
) -> None:
    items = links(6)
    lines = [link_line(link) for link in items]
    lines.append(checkpoint_line(SIGNER.sign(TENANT, 6, items[5].hash, "t")))
    if tamper == "modify":
        lines[2] = lines[2].replace(b"run.start", b"run.hide")
    elif tamper == "delete":
        del lines[2]
    elif tamper == "insert":
        lines.insert(2, lines[2].replace(b'"n":3', b'"n":7'))
    else:
        lines[2], lines[3] = lines[3], lines[2]
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(lines))
    parsed = list(read_export(path))
    chain = [x for x in parsed if isinstance(x, Link)]
    marks = [x for x in parsed if not isinstance(x, Link)]
    result = verify_chain(TENANT, chain, marks, TRUST)
    assert result.first_bad_seq == first_bad


def test_an_export_round_trips_byte_for_byte(tmp_path: Path) -> None:
    items = links(5)
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(link_line(link) for link in items))
    assert [x for x in read_export(path)] == items


def test_unusual_tenant_ids_take_the_json_path_and_parse_the_same(tmp_path: Path) -> None:
    chain = Chain()
    items = [chain.append(tenant, body) for tenant in ('a"b', "ü-tenant", "plain")]
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(link_line(link) for link in items))
    assert list(read_export(path)) == items
