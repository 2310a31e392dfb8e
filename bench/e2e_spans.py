"""Where a run's time goes on agentbus: handler and hop times from the stack's span file."""

from __future__ import annotations

import json
import os
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from proc import local_broker_pid, process_cpu_s
from rich.console import Console
from rich.table import Table

__all__ = ["CpuMeter", "breakdown"]


class CpuMeter:
    """CPU seconds each process of the stack (and the broker, and this bench) used in a phase.

    On a shared machine the sum per run is the figure that bounds throughput: N cores
    cannot finish more than N / (CPU seconds per run) runs a second.
    """

    def __init__(self, stack: Path) -> None:
        self.pids = {
            path.stem: int(path.read_text()) for path in sorted((stack / "run").glob("*.pid"))
        }
        broker = local_broker_pid()
        if broker is not None:
            self.pids["kafka broker"] = broker
        self.pids["bench (client)"] = os.getpid()
        self.start = {name: process_cpu_s(pid) for name, pid in self.pids.items()}

    def report(self, console: Console, runs: int) -> None:
        used = {name: process_cpu_s(pid) - self.start[name] for name, pid in self.pids.items()}
        table = Table(
            "process", "CPU ms per run", title=f"CPU per run ({runs} runs, all processes)"
        )
        for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
            if seconds > 0:
                table.add_row(name, f"{seconds * 1000 / runs:.1f}")
        total = sum(used.values()) * 1000 / runs
        table.add_row("total", f"{total:.1f}")
        console.print(table)
        cores = os.cpu_count() or 1
        ceiling = cores * 1000 / total
        console.print(f"{cores} cores at {total:.1f} CPU ms per run: at most {ceiling:.0f} runs/s")


def _spans(path: Path, start_ns: int, end_ns: int) -> list[dict[str, Any]]:
    found = []
    # The local receiver sets a full file aside as <path>.1 and starts a new one.
    for part in (path.with_name(path.name + ".1"), path):
        if not part.exists():
            continue
        with part.open(encoding="utf-8") as handle:
            for line in handle:
                span = json.loads(line)
                if start_ns <= span["start_ns"] <= end_ns:
                    found.append(span)
    return found


def breakdown(console: Console, path: Path, start_ns: int, end_ns: int) -> None:
    """Median handler time per consumer and median delay per hop, inside a time window."""
    if not path.exists():
        console.print(f"no span file at {path}")
        return
    spans = _spans(path, start_ns, end_ns)
    by_id = {s["span_id"]: s for s in spans}
    handler: dict[str, list[float]] = defaultdict(list)
    hop: dict[str, list[float]] = defaultdict(list)
    for span in spans:
        if span["kind"] != "consumer" or span["service"] == "audit":
            continue  # audit is off the run's critical path
        topic = span["attributes"].get("messaging.destination.name", span["name"])
        handler[f"{span['service']} ← {topic}"].append((span["end_ns"] - span["start_ns"]) / 1e6)
        parent = by_id.get(span["parent_span_id"])
        if parent is not None and parent["kind"] == "consumer":
            # Publish happens at the end of the parent's transaction: the gap is the hop.
            edge = f"{parent['service']} → {span['service']}"
            hop[edge].append((span["start_ns"] - parent["end_ns"]) / 1e6)
    table = Table(
        "step of a run",
        "p50 ms",
        "mean ms",
        "count",
        title="agentbus, one run at a time: where the time goes (spans)",
    )
    for label, values in sorted(handler.items(), key=lambda kv: -statistics.median(kv[1])):
        table.add_row(
            f"handler {label}",
            f"{statistics.median(values):.1f}",
            f"{statistics.mean(values):.1f}",
            str(len(values)),
        )
    for label, values in sorted(hop.items(), key=lambda kv: -statistics.median(kv[1])):
        table.add_row(
            f"hop {label}",
            f"{statistics.median(values):.1f}",
            f"{statistics.mean(values):.1f}",
            str(len(values)),
        )
    console.print(table)
