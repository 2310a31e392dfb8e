"""Read the spans `make up` collects (var/stack/traces.jsonl) and find one run's trace."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.tree import Tree

__all__ = ["load_spans", "trace_of_events", "trace_tree"]


def load_spans(path: Path) -> list[dict[str, Any]]:
    """The spans the local receiver still keeps: `<path>.1` (full, set aside), then `path`."""
    spans = []
    for part in (path.with_name(path.name + ".1"), path):
        if not part.exists():
            continue
        with part.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    spans.append(json.loads(line))
    return spans


def trace_of_events(spans: list[dict[str, Any]], event_ids: Iterable[str]) -> str | None:
    """The trace whose consumer spans processed most of these event ids."""
    wanted = set(event_ids)
    votes: Counter[str] = Counter()
    for span in spans:
        message_id = str(span["attributes"].get("messaging.message.id", ""))
        if message_id.split(":", 1)[0] in wanted:
            votes[span["trace_id"]] += 1
    return votes.most_common(1)[0][0] if votes else None


def trace_tree(
    spans: list[dict[str, Any]], trace_id: str, limit: int = 40
) -> tuple[Tree, dict[str, Any]]:
    """The trace as a tree of service/span (duration), and counts for a summary line."""
    mine = sorted((s for s in spans if s["trace_id"] == trace_id), key=lambda s: s["start_ns"])
    by_id = {s["span_id"]: s for s in mine}
    # The hops: consumer spans (one per service that handled an event) and model calls;
    # publish spans hang under them and are counted, not drawn.
    hops = [s for s in mine if s["kind"] == "consumer" or s["name"].startswith("chat ")]
    hop_ids = {s["span_id"] for s in hops}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in hops:
        parent = span["parent_span_id"]
        while parent is not None and parent not in hop_ids:
            parent = by_id[parent]["parent_span_id"] if parent in by_id else None
        children.setdefault(parent, []).append(span)
    start = mine[0]["start_ns"] if mine else 0
    end = max((s["end_ns"] for s in mine), default=0)
    root = Tree(f"trace {trace_id}")
    shown = 0

    def add(node: Tree, span: dict[str, Any]) -> None:
        nonlocal shown
        if shown >= limit:
            return
        shown += 1
        ms = (span["end_ns"] - span["start_ns"]) / 1e6
        at = (span["start_ns"] - start) / 1e6
        branch = node.add(
            f"[cyan]{span['service']}[/] {span['name']} [dim]+{at:.0f} ms, {ms:.1f} ms[/]"
        )
        for child in children.get(span["span_id"], []):
            add(branch, child)

    for top in children.get(None, []):
        add(root, top)
    summary = {
        "spans": len(mine),
        "links": sum(1 for s in mine if s["parent_span_id"] in by_id),
        "services": sorted({s["service"] for s in mine}),
        "roots": len(children.get(None, [])),
        "shown": shown,
        "duration_ms": (end - start) / 1e6,
    }
    return root, summary
