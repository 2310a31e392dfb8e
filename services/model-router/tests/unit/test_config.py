"""Routing configuration: validated on load with errors that name the field."""

from __future__ import annotations

import pytest
from model_router.config import ConfigError, load_config, parse_config


def test_unknown_deployment_and_version_are_named(tmp_path):
    path = tmp_path / "routing.yaml"
    path.write_text(
        "version: 1\n"
        "deployments: [{id: a, provider: local, model: m}]\n"
        "aliases: {fast: {deployments: [a, ghost]}}\n"
        "tenants: {t1: {aliases: {smart: {deployments: [nope], simple_alias: missing}}}}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "aliases.fast: unknown deployment 'ghost'" in message
    assert "tenants.t1.aliases.smart: unknown deployment 'nope'" in message
    assert "unknown simple_alias 'missing'" in message


def test_field_errors_carry_their_location():
    with pytest.raises(ConfigError) as error:
        parse_config(
            {
                "version": 1,
                "deployments": [{"id": "a", "provider": "openai", "model": "m", "weight": 0}],
            }
        )
    assert "deployments.0.weight: Input should be greater than 0" in str(error.value)
    with pytest.raises(ConfigError, match="deployment 'a': provider openai needs endpoint"):
        parse_config(
            {"version": 1, "deployments": [{"id": "a", "provider": "openai", "model": "m"}]}
        )


def test_unsupported_version_and_typo_fields_are_refused():
    with pytest.raises(ConfigError, match="version 2 unsupported"):
        parse_config(
            {"version": 2, "deployments": [{"id": "a", "provider": "local", "model": "m"}]}
        )
    with pytest.raises(ConfigError, match=r"deployments\.0\.modle"):
        parse_config(
            {"version": 1, "deployments": [{"id": "a", "provider": "local", "modle": "m"}]}
        )


def test_tenant_aliases_override_global_ones():
    config = parse_config(
        {
            "version": 1,
            "deployments": [
                {"id": "a", "provider": "local", "model": "a"},
                {"id": "b", "provider": "local", "model": "b"},
            ],
            "aliases": {"fast": {"deployments": ["a"]}},
            "tenants": {"t1": {"aliases": {"fast": {"deployments": ["b"]}}}},
        }
    )
    assert config.aliases_for("t1")["fast"].deployments == ["b"]
    assert config.aliases_for("t2")["fast"].deployments == ["a"]


def test_packaged_default_config_is_valid():
    from model_router.config import default_config

    config = default_config()
    assert set(config.aliases) == {"cheap", "fast", "smart"}
