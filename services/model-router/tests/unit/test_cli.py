"""The `model-router` console script: --help and validate-config never start the service."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_router.cli import main, validate_config
from model_router.config import ConfigError
from model_router.settings import ModelRouterSettings
from pydantic import SecretStr

GOOD = """
version: 1
deployments:
  - id: gpt
    provider: openai
    model: gpt-4o
    endpoint: "https://api.example/v1"
    api_key_ref: openai
  - {id: echo, provider: local, model: echo-1}
aliases:
  fast: {deployments: [gpt, echo]}
tenants:
  acme:
    aliases:
      cheap: {deployments: [echo]}
"""


def test_help_lists_the_commands_and_serves_nothing(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "serve" in out
    assert "validate-config" in out


def test_a_valid_file_with_its_secret_passes(tmp_path: Path):
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD)
    config, missing = validate_config(
        ModelRouterSettings(routing_config=path, secrets={"openai": SecretStr("k")})
    )
    assert missing == []
    assert [d.id for d in config.deployments] == ["gpt", "echo"]


def test_a_missing_secret_is_named_with_its_deployment(tmp_path: Path):
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD)
    _, missing = validate_config(ModelRouterSettings(routing_config=path))
    assert len(missing) == 1
    assert missing[0].startswith("deployments.gpt: secret 'openai' is not set")


def test_an_invalid_file_names_the_place_of_each_problem(tmp_path: Path):
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD.replace("[gpt, echo]", "[gpt, nope]"))
    with pytest.raises(ConfigError, match=r"unknown deployment 'nope'"):
        validate_config(
            ModelRouterSettings(routing_config=path, secrets={"openai": SecretStr("k")})
        )


def test_the_command_exits_1_on_problems_and_0_when_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "routing.yaml"
    path.write_text(GOOD)
    with pytest.raises(SystemExit) as exit_:
        main(["validate-config", str(path)])
    assert exit_.value.code == 1, "the secret is not set"
    assert "MODEL_ROUTER_SECRETS__openai" in capsys.readouterr().err

    monkeypatch.setenv("MODEL_ROUTER_SECRETS__openai", "sk-test")
    with pytest.raises(SystemExit) as exit_:
        main(["validate-config", str(path)])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"ok {path}: 2 deployments, aliases cheap, fast")

    (tmp_path / "broken.yaml").write_text("version: 1\ndeployments: []\n")
    with pytest.raises(SystemExit) as exit_:
        main(["validate-config", str(tmp_path / "broken.yaml")])
    assert exit_.value.code == 1
    assert "deployments" in capsys.readouterr().err


def test_without_a_file_the_packaged_configuration_is_checked(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        main(["validate-config"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("ok (packaged configuration)")
