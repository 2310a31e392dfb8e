"""The `model-router` console script: serve (the default), or check a routing file offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agentbus.http import run_service
from agentbus.telemetry import configure_logging

from .app import SERVICE, create_app, provider_secrets, routing_config
from .config import ConfigError, RoutingConfig
from .settings import ModelRouterSettings

__all__ = ["main", "validate_config"]


def validate_config(settings: ModelRouterSettings) -> tuple[RoutingConfig, list[str]]:
    """The routing configuration the service would load, and what it lacks to call providers.

    ConfigError (every problem with its location) when the file is not a valid routing
    configuration; the second value names each deployment whose `api_key_ref` is not among
    the configured secrets (such a deployment answers 401 from its provider at run time).
    """
    config, secrets = routing_config(settings), provider_secrets(settings)
    missing = [
        f"deployments.{d.id}: secret {d.api_key_ref!r} is not set "
        f"(MODEL_ROUTER_SECRETS__{d.api_key_ref} or a file in MODEL_ROUTER_SECRETS_DIR)"
        for d in config.deployments
        if d.api_key_ref and d.api_key_ref not in secrets
    ]
    return config, missing


def main(argv: list[str] | None = None) -> None:
    """Console script `model-router`: serve Kafka and HTTP (default) or `validate-config`."""
    parser = argparse.ArgumentParser(
        prog="model-router",
        description="The model-router: an OpenAI-compatible gateway and the model.requests "
        "consumer. Settings come from MODEL_ROUTER_* variables.",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="consume model.requests and serve the HTTP API (default)")
    check = commands.add_parser(
        "validate-config",
        help="check a routing file offline: every problem with its location, missing secrets",
    )
    check.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="YAML routing file (default: MODEL_ROUTER_ROUTING_CONFIG, else the packaged one)",
    )
    args = parser.parse_args(argv)
    settings = ModelRouterSettings()
    if args.command == "validate-config":
        if args.file is not None:
            settings = settings.model_copy(update={"routing_config": args.file})
        raise SystemExit(_validate(settings))
    configure_logging(SERVICE, settings.log_level)
    run_service(create_app(settings), settings.http)


def _validate(settings: ModelRouterSettings) -> int:
    path = settings.routing_config
    try:
        config, missing = validate_config(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    for problem in missing:
        print(problem, file=sys.stderr)
    aliases = sorted({*config.aliases, *(a for t in config.tenants.values() for a in t.aliases)})
    print(
        f"{'invalid' if missing else 'ok'} {path or '(packaged configuration)'}: "
        f"{len(config.deployments)} deployments, aliases {', '.join(aliases) or '(none)'}, "
        f"{len(config.tenants)} tenants"
    )
    return 1 if missing else 0
