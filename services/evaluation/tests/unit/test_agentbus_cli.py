"""`agentbus eval ...` is the evaluation CLI, added to the agentbus CLI by entry point."""

from __future__ import annotations

from typer.testing import CliRunner

from agentbus.bus.cli import app


def test_agentbus_eval_is_the_evaluation_cli() -> None:
    result = CliRunner().invoke(app, ["eval", "run", "--help"])
    assert result.exit_code == 0, result.output
    assert "WORKFLOW@VERSION" in result.output
