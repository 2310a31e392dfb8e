"""Backward-compatibility rules between two JSON Schemas of the same event type and major."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

__all__ = ["breaking_changes"]

Schema = dict[str, Any]
_PYTHON_TO_JSON = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}
# A new lower bound above the old one (or a new upper bound below it) rejects old data.
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_EXACT = ("pattern", "format", "multipleOf")


def breaking_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Every way `new_schema` breaks data or readers that were valid under `old_schema`."""
    return _Comparison(old_schema, new_schema).run()


class _Comparison:
    """One walk over an old and a new schema, each resolving `$ref`s in its own `$defs`."""

    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root, self.new_root = old_root, new_root
        self.problems: list[str] = []
        self._in_progress: set[tuple[str, str]] = set()

    def run(self) -> list[str]:
        self.compare(self.old_root, self.new_root, "")
        return self.problems

    def report(self, path: str, message: str) -> None:
        self.problems.append(f"{path or '(root)'}: {message}")

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old_by_type = _group(_variants(old, self.old_root))
        new_by_type = _group(_variants(new, self.new_root))
        if set(old_by_type) != set(new_by_type):
            before, after = " | ".join(sorted(old_by_type)), " | ".join(sorted(new_by_type))
            self.report(path, f"type changed from {before} to {after}")
        for json_type in sorted(set(old_by_type) & set(new_by_type)):
            olds, news = old_by_type[json_type], new_by_type[json_type]
            if len(olds) != len(news):
                self.report(
                    path, f"{json_type} alternatives changed from {len(olds)} to {len(news)}"
                )
                continue
            for (old_node, old_ref), (new_node, new_ref) in zip(olds, news, strict=True):
                guard = (old_ref, new_ref)
                if old_ref and new_ref and guard in self._in_progress:
                    continue  # a recursive definition, already being compared further up
                self._in_progress.add(guard)
                self.compare_same_type(json_type, old_node, new_node, path)
                self._in_progress.discard(guard)

    def compare_same_type(self, json_type: str, old: Schema, new: Schema, path: str) -> None:
        self.compare_values(old, new, path)
        if json_type == "object":
            self.compare_objects(old, new, path)
        elif json_type == "array":
            old_items, new_items = old.get("prefixItems", []), new.get("prefixItems", [])
            if len(old_items) != len(new_items):
                self.report(path, "tuple length changed")
            for i, (o, n) in enumerate(zip(old_items, new_items, strict=False)):
                self.compare(o, n, f"{path}[{i}]")
            self.compare(_as_schema(old.get("items")), _as_schema(new.get("items")), f"{path}[]")

    def compare_values(self, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if new_values is not None:
            if old_values is None:
                self.report(path, f"now restricted to {sorted(new_values)}")
            elif lost := old_values - new_values:
                self.report(path, f"enum lost value(s) {', '.join(sorted(lost))}")
        for key in _LOWER_BOUNDS + _UPPER_BOUNDS + _EXACT:
            before, after = old.get(key), new.get(key)
            if after is None or after == before:
                continue
            relaxed = before is not None and (
                (key in _LOWER_BOUNDS and after < before)
                or (key in _UPPER_BOUNDS and after > before)
                or (key == "multipleOf" and before % after == 0)
            )
            if not relaxed:
                verb = "changed" if key in _EXACT else "tightened"
                self.report(path, f"{key} {verb} from {before} to {after}")
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            self.report(path, "items must now be unique")

    def compare_objects(self, old: Schema, new: Schema, path: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, old_prop in old_props.items():
            where = f"{path}.{name}" if path else name
            if name not in new_props:
                self.report(where, "property removed")
                continue
            self.compare(old_prop, new_props[name], where)
            if name in new_required and name not in old_required:
                self.report(where, "property became required")
        for name in sorted(new_required - set(old_props)):
            self.report(f"{path}.{name}" if path else name, "new required property")
        old_extra, new_extra = (
            old.get("additionalProperties", True),
            new.get("additionalProperties", True),
        )
        if old_extra is False:
            return
        if new_extra is False:
            self.report(path, "additional properties are no longer allowed")
        elif isinstance(new_extra, dict):
            self.compare(_as_schema(old_extra), new_extra, f"{path}.*" if path else "*")


def _as_schema(node: Any) -> Schema:
    return node if isinstance(node, dict) else {}


def _resolve(node: Schema, root: Schema) -> tuple[Schema, str]:
    """Follow `$ref` (and single-member `allOf`); sibling keys override the target's."""
    ref = ""
    while True:
        if "$ref" in node:
            ref = node["$ref"]
            target: Any = root
            for part in ref.removeprefix("#/").split("/"):
                target = target[part] if isinstance(target, dict) and part in target else None
            if not isinstance(target, dict):
                raise ValueError(f"unresolvable $ref {ref!r}")
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
            rest = {k: v for k, v in node.items() if k != "allOf"}
            node = {**node["allOf"][0], **rest}
        else:
            return node, ref


def _variants(node: Schema, root: Schema) -> Iterator[tuple[str, Schema, str]]:
    """(JSON type, schema, ref) for each alternative a value may take; "any" for `{}`."""
    node, ref = _resolve(node, root)
    alternatives = node.get("anyOf") or node.get("oneOf")
    if isinstance(alternatives, list):
        for sub in alternatives:
            yield from _variants(sub, root)
        return
    declared = node.get("type")
    types = [declared] if isinstance(declared, str) else declared
    if types is None:
        values = node["enum"] if "enum" in node else [node["const"]] if "const" in node else []
        types = sorted({_json_type(v) for v in values}) or [_implied_type(node)]
    for json_type in types:
        yield json_type, node, ref


def _group(variants: Iterator[tuple[str, Schema, str]]) -> dict[str, list[tuple[Schema, str]]]:
    grouped: dict[str, list[tuple[Schema, str]]] = {}
    for json_type, node, ref in variants:
        grouped.setdefault(json_type, []).append((node, ref))
    if "any" in grouped:  # an unconstrained alternative accepts everything the others do
        return {"any": grouped["any"][:1]}
    for nodes in grouped.values():
        nodes.sort(key=lambda item: (item[1], str(item[0].get("title", ""))))
    return grouped


def _implied_type(node: Schema) -> str:
    if "properties" in node or "additionalProperties" in node:
        return "object"
    if "items" in node or "prefixItems" in node:
        return "array"
    return "any"


def _json_type(value: Any) -> str:
    return "null" if value is None else _PYTHON_TO_JSON.get(type(value), "any")


def _allowed_values(node: Schema) -> set[str] | None:
    if "const" in node:
        return {json.dumps(node["const"], sort_keys=True)}
    if "enum" in node:
        return {json.dumps(v, sort_keys=True) for v in node["enum"]}
    return None
