"""Walk JSON content as (JSON Pointer, string) pairs and rebuild it with replaced strings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["pointer", "rebuild", "strings", "total_chars"]


def pointer(parts: tuple[str | int, ...]) -> str:
    """RFC 6901 JSON Pointer of a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def strings(content: Any, parts: tuple[str | int, ...] = ()) -> Iterator[tuple[str, str]]:
    """Every string value (not keys) in `content` with its JSON Pointer."""
    if isinstance(content, str):
        yield pointer(parts), content
    elif isinstance(content, dict):
        for key, value in content.items():
            yield from strings(value, (*parts, key))
    elif isinstance(content, list):
        for index, value in enumerate(content):
            yield from strings(value, (*parts, index))


def total_chars(content: Any) -> int:
    """Characters of all string values: what a size limit counts."""
    return sum(len(text) for _, text in strings(content))


def rebuild(
    content: Any, replace: Callable[[str, str], str], parts: tuple[str | int, ...] = ()
) -> Any:
    """A copy of `content` with each string replaced by `replace(pointer, text)`."""
    if isinstance(content, str):
        return replace(pointer(parts), content)
    if isinstance(content, dict):
        return {k: rebuild(v, replace, (*parts, k)) for k, v in content.items()}
    if isinstance(content, list):
        return [rebuild(v, replace, (*parts, i)) for i, v in enumerate(content)]
    return content
