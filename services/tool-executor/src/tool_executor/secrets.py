"""Secrets referenced by name, resolved only at the moment a tool call needs them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

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

    def known_values(self, template: str) -> list[str]:
        """The values `template` references, so they can be scrubbed from error text."""
        return [self.get(m.group(1)) for m in _REFERENCE.finditer(template)]

    @staticmethod
    def references(template: str) -> list[str]:
        """Names of the secrets `template` references."""
        return _REFERENCE.findall(template)
