"""The `audit` command: verify exits 0 on a good export, 1 naming the first bad seq otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit.chain import Chain, entry
from audit.cli import app
from audit.export import checkpoint_line, link_line
from audit.signing import CheckpointSigner, generate_private_key, load_private_key, public_key_text
from typer.testing import CliRunner

KEY = load_private_key(generate_private_key())


def make(seq: int) -> bytes:
    return entry(
        seq=seq,
        tenant_id="acme",
        event_id=f"e{seq}",
        event_type="t",
        source="s",
        time="2026-01-01T00:00:00+00:00",
        run_id=None,
        data={"n": seq},
    )


def write_export(path: Path, tamper: bool) -> None:
    chain = Chain()
    links = [chain.append("acme", make) for _ in range(5)]
    lines = [link_line(link) for link in links]
    lines.append(checkpoint_line(CheckpointSigner(KEY).sign("acme", 5, links[-1].hash, "t")))
    if tamper:
        lines[3] = lines[3].replace(b'"n":4', b'"n":40')
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize(("tamper", "code"), [(False, 0), (True, 1)])
def test_verify_an_export(tmp_path: Path, tamper: bool, code: int) -> None:
    export = tmp_path / "trail.jsonl"
    write_export(export, tamper)
    public = public_key_text(KEY.public_key())
    result = CliRunner().invoke(app, ["verify", "--export", str(export), "--public-key", public])
    assert result.exit_code == code, result.output
    if tamper:
        assert "first bad seq 4" in result.output


def test_keygen_prints_a_usable_key_pair() -> None:
    result = CliRunner().invoke(app, ["keygen"])
    assert result.exit_code == 0
    private = result.output.split("AUDIT_SIGNING__PRIVATE_KEY=")[1].split()[0]
    public = result.output.split("public key: ")[1].split()[0]
    assert public_key_text(load_private_key(private).public_key()) == public


def test_the_commands_are_also_agentbus_audit() -> None:
    from agentbus.bus.cli import app as agentbus

    result = CliRunner().invoke(agentbus, ["audit", "keygen"])
    assert result.exit_code == 0, result.output
    assert "AUDIT_SIGNING__PRIVATE_KEY=" in result.output
