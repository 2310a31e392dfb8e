"""`agentbus eval ...` is the evaluation CLI, added to the agentbus CLI by entry point."""

from __future__ import annotations

import evaluation.cli
import pytest
from typer.testing import CliRunner

from agentbus.bus.cli import app


def test_agentbus_eval_is_the_evaluation_cli() -> None:
    result = CliRunner().invoke(app, ["eval", "run", "--help"])
    assert result.exit_code == 0, result.output
    assert "WORKFLOW@VERSION" in result.output


def test_a_group_named_without_a_command_shows_help_and_serves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `evaluation` alone serves (a container's command); `agentbus eval` alone must not.
    def serve() -> None:
        raise AssertionError("agentbus eval started the service")

    monkeypatch.setattr(evaluation.cli, "serve", serve)
    result = CliRunner().invoke(app, ["eval"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "eval [OPTIONS] COMMAND" in result.output
    assert result.exit_code == 2  # click's "no command given", with the group's help
