"""Secrets referenced by name, resolved only at the moment a tool call needs them."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from .domain import ToolError

__all__ = ["SecretResolver"]

_REFERENCE = re.compile(r"\{secret:([A-Za-z0-9_.-]+)\}")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class SecretResolver:
    """Looks secrets up in settings, then in a directory of one-file-per-secret."""

    def __init__(self, values: Mapping[str, SecretStr], directory: Path | None = None) -> None:
        self._values = dict(values)
        self._directory = directory

    def get(self, name: str) -> str:
        """The secret's value; ToolError naming the secret (never a value) when unknown."""
        if name in self._values:
            return self._values[name].get_secret_value()
        if self._directory is not None and _NAME.match(name):
            path = self._directory / name
            if path.is_file():
                return path.read_text().strip()
        raise ToolError("tool.secret_missing", f"secret {name!r} is not configured")

    def render(self, template: str) -> str:
        """Replace every `{secret:NAME}` in `template` with the secret's value."""
        return _REFERENCE.sub(lambda m: self.get(m.group(1)), template)

    def used_by(self, config: Any) -> dict[str, str]:
        """Name -> value of every secret a definition's configuration references."""
        names = _REFERENCE.findall(json.dumps(config, default=str))
        found = {}
        for name in names:
            with contextlib.suppress(ToolError):
                found[name] = self.get(name)
        return found

    @staticmethod
    def scrub(value: Any, secrets: dict[str, str]) -> Any:
        """`value` with every secret value replaced by `[secret:NAME]` (e.g. an echoed header)."""
        if not secrets:
            return value
        text = json.dumps(value)
        if not any(json.dumps(v)[1:-1] in text for v in secrets.values() if v):
            return value
        for name, secret in secrets.items():
            if secret:
                text = text.replace(json.dumps(secret)[1:-1], f"[secret:{name}]")
        return json.loads(text)

    @staticmethod
    def references(template: str) -> list[str]:
        """Names of the secrets `template` references."""
        return _REFERENCE.findall(template)
