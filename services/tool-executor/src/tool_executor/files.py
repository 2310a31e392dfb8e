"""Tool definitions and grants from YAML files, validated before anything is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .domain import Grant, ToolDefinition
from .schemas import SchemaProblemError, check_schema

__all__ = ["BUNDLED_TOOLS", "DefinitionFileError", "load_definitions", "load_grants"]

BUNDLED_TOOLS = Path(__file__).parent / "definitions"


class DefinitionFileError(ValueError):
    """A definition or grants file is malformed; the message names the file and field."""


def _read(path: Path) -> list[Any]:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as exc:
        raise DefinitionFileError(f"{path}: not valid YAML: {exc}") from exc
    items: list[Any] = []
    for document in documents:
        items.extend(document if isinstance(document, list) else [document])
    return items


def load_definitions(directory: Path) -> list[ToolDefinition]:
    """Every definition in `*.yaml`/`*.yml` under `directory` (a file may hold several)."""
    definitions: list[ToolDefinition] = []
    paths = sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")])
    for path in paths:
        for item in _read(path):
            try:
                definition = ToolDefinition.model_validate(item)
                check_schema(definition.arguments_schema)
                if definition.result_schema is not None:
                    check_schema(definition.result_schema)
            except (ValidationError, SchemaProblemError) as exc:
                raise DefinitionFileError(f"{path}: {exc}") from exc
            definitions.append(definition)
    seen: set[tuple[str, str]] = set()
    for d in definitions:
        if (d.name, d.version) in seen:
            raise DefinitionFileError(f"{d.name} version {d.version} is defined twice")
        seen.add((d.name, d.version))
    return definitions


def load_grants(path: Path) -> dict[str, list[Grant]]:
    """`{tenants: {tenant: [grant, ...]}}` from a YAML file."""
    items = _read(path)
    tenants = items[0].get("tenants", {}) if items and isinstance(items[0], dict) else {}
    grants: dict[str, list[Grant]] = {}
    for tenant, entries in dict(tenants).items():
        try:
            grants[str(tenant)] = [Grant.model_validate(e) for e in entries or []]
        except ValidationError as exc:
            raise DefinitionFileError(f"{path}: tenant {tenant}: {exc}") from exc
    return grants
