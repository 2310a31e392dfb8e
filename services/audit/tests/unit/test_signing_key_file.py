"""The development key file: created once, whole, when replicas start together."""

from __future__ import annotations

import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import audit.app
import pytest
from audit.app import load_signer
from audit.settings import SigningSettings


def test_replicas_starting_together_share_one_whole_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys" / "checkpoint.key"
    make_key = audit.app.generate_private_key

    def slow_key() -> str:
        time.sleep(0.05)  # a window in which the others look for the file
        return make_key()

    monkeypatch.setattr(audit.app, "generate_private_key", slow_key)
    together = threading.Barrier(8)

    def replica(_: int) -> str:
        together.wait(timeout=10)
        settings = SigningSettings(private_key=None, private_key_file=path)
        return load_signer(settings).key_id

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(replica, range(8)))
    assert len(keys) == 1, "every replica signs with the same key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.key"], "no temporary left"


def test_an_existing_key_file_is_used_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    first = load_signer(SigningSettings(private_key=None, private_key_file=path))
    second = load_signer(SigningSettings(private_key=None, private_key_file=path))
    assert first.key_id == second.key_id
