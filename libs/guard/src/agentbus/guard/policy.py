"""Policies as code: a tenant's YAML, validated into a model with precise, located errors."""

from __future__ import annotations

import difflib
import re
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .entities import Category
from .injection import INJECTION_RULES
from .rules import RULES

__all__ = [
    "KNOWN_ENTITIES",
    "Action",
    "ActionRule",
    "MaskStyle",
    "Policy",
    "PolicyError",
    "parse_policy",
]

KNOWN_ENTITIES = frozenset(
    {r.entity for r in RULES}
    | {r.entity for r in INJECTION_RULES}
    | {"DENIED_TERM", "DENIED_TOPIC", "SIZE_LIMIT", "OUTPUT_SCHEMA"}
)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"


class PolicyError(ValueError):
    """A policy file is not valid; the message names the file, line and field."""


class Action(StrEnum):
    """What to do with a finding; the verdict takes the most severe one."""

    ALLOW = "allow"
    MASK = "mask"
    REQUIRE_APPROVAL = "require_approval"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        """Order for combining findings: allow < mask < require_approval < block."""
        return list(Action).index(self)


class MaskStyle(StrEnum):
    """How a masked value is replaced."""

    LABEL = "label"
    PARTIAL = "partial"
    HASH = "hash"
    TOKENIZE = "tokenize"


class ActionRule(BaseModel):
    """The action for one entity or category, with an optional score threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    mask: MaskStyle = MaskStyle.LABEL
    min_score: float | None = Field(default=None, ge=0, le=1)


class Policy(BaseModel):
    """One tenant policy version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128, pattern=_NAME)
    version: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$")
    description: str = ""
    min_score: float = Field(default=0.5, ge=0, le=1)
    max_chars: int = Field(default=200_000, ge=1)
    phone_regions: tuple[str, ...] = ("US",)
    default: ActionRule = ActionRule(action=Action.ALLOW)
    categories: dict[Category, ActionRule] = Field(default_factory=dict)
    entities: dict[str, ActionRule] = Field(default_factory=dict)
    denied_terms: tuple[str, ...] = ()
    denied_topics: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # YAML reads `version: 3` as an int; a version is a label, so accept and keep it as text.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("entities", mode="before")
    @classmethod
    def _known_entities(cls, value: Any) -> Any:
        for name in value if isinstance(value, dict) else ():
            if name not in KNOWN_ENTITIES:
                close = difflib.get_close_matches(name, KNOWN_ENTITIES, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"unknown entity {name!r}{hint}")
        return value

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for region in value:
            if not re.fullmatch(r"[A-Z]{2}", region):
                raise ValueError(f"phone region {region!r} is not an ISO 3166 alpha-2 code")
        return value

    @property
    def ref(self) -> str:
        """name@version."""
        return f"{self.name}@{self.version}"

    def rule_for(self, entity: str, category: Category) -> tuple[str, ActionRule]:
        """The most specific rule for an entity: its own, its category's, or the default."""
        if entity in self.entities:
            return f"entities.{entity}", self.entities[entity]
        if category in self.categories:
            return f"categories.{category.value}", self.categories[category]
        if category is Category.CONTENT:
            # Denied terms, size and schema limits exist to stop content: block unless told.
            return "builtin.content", _BLOCK
        return "default", self.default


_BLOCK = ActionRule(action=Action.BLOCK)


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Parse and validate YAML; PolicyError says where (file:line) and what is wrong."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a YAML mapping, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(p) for p in error["loc"]]
            line = _line_of(node, loc)
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {'.'.join(loc) or '(root)'}: {error['msg']}")
        raise PolicyError("\n".join(problems)) from exc


def _line_of(node: yaml.Node | None, loc: list[str]) -> int | None:
    """1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == key]
            if not match:
                # A missing or extra key: point at the key itself when it exists.
                keys = [k for k, _ in node.value if k.value == key]
                return keys[0].start_mark.line + 1 if keys else line
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
        else:
            return line
        line = node.start_mark.line + 1
    return line
