"""Step inputs as JMESPath expressions over `{input, steps: {id: {output}}}`; never eval."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

__all__ = [
    "ROOT_NAMES",
    "ExpressionError",
    "Reference",
    "compile_expression",
    "evaluate",
    "references",
    "render",
    "template_names",
    "truthy",
]

ROOT_NAMES = frozenset({"input", "steps", "item", "index"})
"""What an expression may name at its root; `item` and `index` only inside a map step."""

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Nodes whose children are all evaluated against the root context.
_ROOT_CHILDREN = frozenset(
    {
        "multi_select_dict",
        "multi_select_list",
        "key_val_pair",
        "function_expression",
        "comparator",
        "and_expression",
        "or_expression",
        "not_expression",
    }
)


class ExpressionError(ValueError):
    """An expression that does not parse."""


@dataclass(frozen=True)
class Reference:
    """A root name an expression reads, and the step id when it reads `steps.<id>`."""

    root: str
    step: str | None = None


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> ParsedResult:
    """The parsed expression; ExpressionError says why it does not parse."""
    try:
        with warnings.catch_warnings():
            # JMESPath warns on deprecated syntax (`foo` string literals); refuse it instead.
            warnings.simplefilter("error")
            return jmespath.compile(expression)
    except (JMESPathError, Warning) as exc:
        raise ExpressionError(f"invalid expression {expression!r}: {exc}") from None


def references(expression: str) -> list[Reference]:
    """Names the expression reads from the root context (not from projected elements)."""
    return list(_root_refs(compile_expression(expression).parsed))


def _root_refs(node: Mapping[str, Any]) -> Iterator[Reference]:
    kind = node.get("type")
    children: list[Mapping[str, Any]] = node.get("children", [])
    if kind == "field":
        yield Reference(str(node["value"]))
    elif kind == "subexpression":
        first = children[0]
        if first.get("type") == "field":
            second = children[1] if len(children) > 1 else None
            step = str(second["value"]) if second and second.get("type") == "field" else None
            yield Reference(str(first["value"]), step if first["value"] == "steps" else None)
        else:
            yield from _root_refs(first)
    elif kind in _ROOT_CHILDREN:
        for child in children:
            yield from _root_refs(child)
    elif children:
        # Projections, pipes, indexes, flatten: only the left side reads the root context.
        yield from _root_refs(children[0])


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The expression's value over `context` (missing paths give None)."""
    return compile_expression(expression).search(dict(context))


def truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty string/list/object are false."""
    return value not in (None, False, "", [], {})


def template_names(template: str) -> set[str]:
    """The `{{ name }}` placeholders of a prompt template."""
    return set(_TEMPLATE.findall(template))


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill `{{ name }}` placeholders; strings as-is, anything else as compact JSON."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)

    return _TEMPLATE.sub(fill, template)
