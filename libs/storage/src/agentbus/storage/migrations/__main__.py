"""`python -m agentbus.storage.migrations revision ...`: autogenerate a service's revision."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from sqlalchemy import MetaData

from .revision import make_revision


def _load_metadata(spec: str) -> MetaData:
    module_name, _, attribute = spec.partition(":")
    value = getattr(importlib.import_module(module_name), attribute or "metadata")
    metadata = getattr(value, "metadata", value)
    if not isinstance(metadata, MetaData):
        raise SystemExit(f"{spec} is not a MetaData (nor a class with .metadata)")
    return metadata


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and write the revision file."""
    parser = argparse.ArgumentParser(prog="python -m agentbus.storage.migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="autogenerate the next revision")
    revision.add_argument(
        "--metadata", required=True, help="module:attribute, e.g. audit.store:metadata"
    )
    revision.add_argument("--versions", required=True, type=Path, help="the versions directory")
    revision.add_argument("--branch", required=True, help="the branch label (the service name)")
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    path = make_revision(
        _load_metadata(args.metadata), args.versions, branch=args.branch, message=args.message
    )
    print(path)


if __name__ == "__main__":
    main()
