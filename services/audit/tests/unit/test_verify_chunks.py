"""Export verification on several processes agrees with the sequential verifier, always.

A good export verifies the same (records, heads, checkpoints, including checkpoints in
the middle of a chain); every kind of tampering gives the same first bad seq, because
any doubt sends the whole export to the sequential verifier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from audit import verify as verify_module
from audit.chain import Chain, Checkpoint, Verification, entry
from audit.export import checkpoint_line, link_line
from audit.signing import (
    CheckpointSigner,
    CheckpointVerifier,
    generate_private_key,
    load_private_key,
)
from audit.verify import verify_export
from audit.verify_chunks import verify_export_parallel

SIGNER = CheckpointSigner(load_private_key(generate_private_key()))
OTHER = CheckpointSigner(load_private_key(generate_private_key()))
TRUST = CheckpointVerifier(SIGNER.public_key)
TENANTS = ("acme", "globex", "initech")
AS_OF = "2026-01-01T00:00:00+00:00"


def export_lines(per_tenant: int = 400) -> list[bytes]:
    """Three tenants' chains interleaved, checkpoints mid-chain and at each head."""
    chain = Chain()
    lines: list[bytes] = []
    marks: list[Checkpoint] = []
    for i in range(per_tenant * len(TENANTS)):
        tenant = TENANTS[i % len(TENANTS)]

        def make(seq: int, i: int = i, tenant: str = tenant) -> bytes:
            return entry(seq=seq, tenant_id=tenant, event_id=f"e-{i}", event_type="t.v1",
                         source="planner", time=AS_OF, run_id=f"run-{i % 7}",
                         data={"action": "run.step", "i": i, "note": "x" * (i % 40)})  # fmt: skip

        link = chain.append(tenant, make)
        lines.append(link_line(link))
        if link.seq in (per_tenant // 3, per_tenant // 2):
            marks.append(SIGNER.sign(tenant, link.seq, link.hash, AS_OF))
    for tenant, (seq, digest) in sorted(chain.heads.items()):
        marks.append(SIGNER.sign(tenant, seq, digest, AS_OF))
    return lines + [checkpoint_line(mark) for mark in marks]


def summary(results: list[Verification]) -> list[tuple[Any, ...]]:
    return [
        (r.tenant_id, r.records, r.head_seq, r.head_hash, r.checkpoints, r.ok, r.first_bad_seq)
        for r in results
    ]


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def test_a_good_export_verifies_the_same_on_several_processes(tmp_path: Path) -> None:
    path = write(tmp_path / "good.jsonl", export_lines())
    sequential = verify_export(path, TRUST, workers=1)
    parallel = verify_export_parallel(path, TRUST, None, workers=2)
    assert parallel is not None, "a good export needs no fallback"
    assert summary(parallel) == summary(sequential)
    assert all(r.ok and r.checkpoints == 3 and r.records == 400 for r in parallel)
    only = verify_export_parallel(path, TRUST, "globex", workers=2)
    assert only is not None
    assert summary(only) == summary(verify_export(path, TRUST, "globex", workers=1))


def test_a_checkpoint_signed_by_another_key_is_rejected_in_parallel(tmp_path: Path) -> None:
    lines = export_lines()
    forged = OTHER.sign("acme", 100, "0" * 64, AS_OF)
    path = write(tmp_path / "forged.jsonl", [*lines, checkpoint_line(forged)])
    parallel = verify_export_parallel(path, TRUST, None, workers=2)
    assert parallel is not None
    assert summary(parallel) == summary(verify_export(path, TRUST, workers=1))
    assert [p.kind for p in parallel[0].problems] == ["bad_signature"]


def _tampered(kind: str) -> list[bytes]:
    lines = export_lines()
    at = 700  # a link line in the middle (acme, globex and initech alternate)
    if kind == "modified":
        lines[at] = lines[at].replace(b'"run.step"', b'"run.skip"')
    elif kind == "deleted":
        del lines[at]
    elif kind == "reordered":
        lines[at], lines[at + 3] = lines[at + 3], lines[at]
    elif kind == "inserted":
        lines.insert(at, lines[at - 3])
    elif kind == "malformed":
        lines[at] = b'{"hash": "not the layout"}\n'
    return lines


@pytest.mark.parametrize("kind", ["modified", "deleted", "reordered", "inserted", "malformed"])
def test_tampering_gives_the_sequential_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    path = write(tmp_path / f"{kind}.jsonl", _tampered(kind))
    assert verify_export_parallel(path, TRUST, None, workers=2) is None
    if kind == "malformed":
        with pytest.raises(ValueError, match="line 701"):
            verify_export(path, TRUST, workers=1)
        return
    expected = summary(verify_export(path, TRUST, workers=1))
    assert any(not ok for *_, ok, _ in expected)
    monkeypatch.setattr(verify_module, "MIN_PARALLEL_BYTES", 0)
    assert summary(verify_export(path, TRUST, workers=2)) == expected
