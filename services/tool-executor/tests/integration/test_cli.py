"""The admin CLI against a real database: load and list definitions, load and list grants."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tool_executor.cli import run

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    # The CLI configures JSON logging on the root logger; give pytest's back afterwards.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_cli_loads_and_lists(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TOOL_EXECUTOR_BUS__DATABASE_URL", sqlite_url)
    assert run(["tools", "load"]) == 0
    capsys.readouterr()
    assert run(["tools", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"http.request", "math.evaluate", "text.word_count"} <= {d["name"] for d in listed}
    grants = tmp_path / "grants.yaml"
    grants.write_text("tenants:\n  acme:\n    - tool: math.evaluate\n")
    assert run(["grants", "load", str(grants)]) == 0
    capsys.readouterr()
    assert run(["grants", "list", "--tenant", "acme"]) == 0
    assert json.loads(capsys.readouterr().out)["tool"] == "math.evaluate"
    assert run(["grants", "list", "--tenant", "other"]) == 0
    assert capsys.readouterr().out == ""
