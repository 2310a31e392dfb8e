"""Write or check the committed JSON Schemas: `python -m contracts.schemagen write|check`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .base import Event
from .compat import breaking_changes
from .envelope import schema_uri
from .history import committed_versions
from .registry import all_events

__all__ = [
    "DEFAULT_SCHEMAS_DIR",
    "JSON_SCHEMA_DIALECT",
    "check",
    "main",
    "render",
    "schema_for",
    "write",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
_MAJOR = re.compile(r"^(?P<name>.+)\.v(?P<major>[0-9]+)$")

Models = Mapping[str, type[Event]]


def schema_for(model: type[Event]) -> dict[str, Any]:
    """The JSON Schema of `model`: what a consumer accepts (validation mode)."""
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = schema_uri(model.EVENT_TYPE)
    return schema


def render(schema: Mapping[str, Any]) -> str:
    """Stable text of a schema: sorted keys, two-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(schemas_dir: Path, models: Models) -> list[str]:
    """Regenerate every schema file; change nothing and return the problems if any break."""
    generated = {t: render(schema_for(m)) for t, m in models.items()}
    committed = _committed(schemas_dir)
    problems = _incompatibilities(committed, generated)
    removed = sorted(committed.keys() - generated.keys())
    problems += [
        f"{t}: the model is gone but the type was released; removing an event type is a "
        "breaking change. Keep the model, or publish its next major version first."
        for t in removed
        if not _superseded(t, models)
    ]
    if problems:
        return problems
    schemas_dir.mkdir(parents=True, exist_ok=True)
    for event_type, text in generated.items():
        if committed.get(event_type) != text:
            _path(schemas_dir, event_type).write_text(text, encoding="utf-8")
    for event_type in removed:
        _path(schemas_dir, event_type).unlink()
    return []


def check(schemas_dir: Path, models: Models) -> list[str]:
    """Every reason the committed schemas don't match the models or break compatibility."""
    generated = {t: render(schema_for(m)) for t, m in models.items()}
    committed = _committed(schemas_dir)
    problems = [
        f"{t}: no committed schema {t}.json; run `make schemas` and commit it"
        for t in sorted(generated.keys() - committed.keys())
    ]
    problems += [
        f"{t}: {t}.json has no model; removing a released event type is a "
        "breaking change (restore the model, or publish its next major and run `make schemas`)"
        for t in sorted(committed.keys() - generated.keys())
    ]
    breaking = _incompatibilities(committed, generated)
    problems += breaking
    broken = {p.split(":", 1)[0] for p in breaking}
    problems += [
        f"{t}: committed schema is stale; run `make schemas` and commit the result"
        for t in sorted(committed.keys() & generated.keys())
        if t not in broken and committed[t] != generated[t]
    ]
    return problems + _history_problems(schemas_dir, committed, models)


def _incompatibilities(committed: Mapping[str, str], generated: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    for event_type in sorted(committed.keys() & generated.keys()):
        old, new = json.loads(committed[event_type]), json.loads(generated[event_type])
        problems += [
            f"{event_type}: breaking change against the committed schema: {change}"
            for change in breaking_changes(old, new)
        ]
    return problems


def _history_problems(schemas_dir: Path, committed: Mapping[str, str], models: Models) -> list[str]:
    problems: dict[str, None] = {}  # ordered set: one line per distinct change
    for name, revision, text in committed_versions(schemas_dir):
        event_type = name.removesuffix(".json")
        if event_type not in committed:
            # A type with a model but no file is already reported as missing.
            if event_type not in models and not _superseded(event_type, models):
                problems[
                    f"{event_type}: was committed in {revision[:12]} and is gone; removing a "
                    "released event type is a breaking change"
                ] = None
            continue
        try:
            old = json.loads(text)
        except json.JSONDecodeError:
            continue  # a broken historic file proves nothing about today's
        for change in breaking_changes(old, json.loads(committed[event_type])):
            problems[
                f"{event_type}: breaking change against the version committed in "
                f"{revision[:12]}: {change}"
            ] = None
    return list(problems)


def _committed(schemas_dir: Path) -> dict[str, str]:
    if not schemas_dir.is_dir():
        return {}
    return {p.name.removesuffix(".json"): p.read_text("utf-8") for p in schemas_dir.glob("*.json")}


def _path(schemas_dir: Path, event_type: str) -> Path:
    return schemas_dir / f"{event_type}.json"


def _superseded(event_type: str, models: Models) -> bool:
    """True when a model exists for a later major of the same event."""
    match = _MAJOR.match(event_type)
    if match is None:
        return False
    later = (_MAJOR.match(t) for t in models)
    return any(
        m is not None and m["name"] == match["name"] and int(m["major"]) > int(match["major"])
        for m in later
    )


def main(argv: Sequence[str] | None = None, *, models: Models | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m contracts.schemagen", description=__doc__)
    parser.add_argument(
        "command",
        choices=("write", "check"),
        help="write: regenerate (refuses breaking changes); check: fail if stale or breaking",
    )
    parser.add_argument(
        "--schemas-dir",
        type=Path,
        default=DEFAULT_SCHEMAS_DIR,
        help=f"where the committed schemas live (default: {DEFAULT_SCHEMAS_DIR})",
    )
    args = parser.parse_args(argv)
    models = all_events() if models is None else models
    action = write if args.command == "write" else check
    try:
        problems = action(args.schemas_dir, models)
    except (OSError, json.JSONDecodeError) as exc:
        problems = [f"cannot read the schemas in {args.schemas_dir}: {exc}"]
    if problems:
        verb = "refusing to write" if args.command == "write" else "schema check failed"
        print(f"{verb}: {len(problems)} problem(s) in {args.schemas_dir}", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "A stale schema is fixed by `make schemas`; a breaking change needs a new major "
            "version instead (docs/adr/0003-contract-compatibility.md).",
            file=sys.stderr,
        )
        return 1
    done = "written" if args.command == "write" else "up to date and compatible"
    print(f"{len(models)} event schemas {done} in {args.schemas_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
