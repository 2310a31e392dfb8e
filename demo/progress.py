"""Live view of runs: each step's state, and which service a slow step waits on."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from platform_api import ApiError, Platform
from rich.console import Console
from rich.live import Live
from rich.table import Table

__all__ = ["FINAL", "watch"]

FINAL = ("completed", "failed", "cancelled")
SERVICE_OF = {
    "guardrail": "guardrail",
    "llm": "model-router",
    "tool": "tool-executor",
    "approval": "approval",
}
_ICON = {
    "completed": "[green]✔[/]",
    "failed": "[red]✘[/]",
    "running": "[yellow]…[/]",
    "skipped": "[dim]-[/]",
    "cancelled": "[dim]x[/]",
    "pending": "[dim]·[/]",
}
_WORKFLOW = Path(__file__).resolve().parent / "workflows" / "refund-triage-governed.yaml"
_STEP_TYPES = {s["id"]: s["type"] for s in yaml.safe_load(_WORKFLOW.read_text())["steps"]}
_SLOW_S = 10.0


def _waiting_on(platform: Platform, run: dict[str, Any]) -> str:
    """For a step running longer than it should: the service it waits on and its readiness."""
    notes = []
    now = datetime.now(UTC)
    for step in run.get("steps", []):
        if step["status"] != "running" or not step.get("started_at"):
            continue
        kind = _STEP_TYPES.get(step["id"], "")
        if kind == "approval":
            notes.append(f"{step['id']}: waits for a human (approval service)")
            continue
        started = datetime.fromisoformat(step["started_at"].replace("Z", "+00:00"))
        if (now - started).total_seconds() < _SLOW_S:
            continue
        service = SERVICE_OF.get(kind, "planner")
        ready, said = platform.ready(service)
        notes.append(
            f"{step['id']}: waits on {service} ({'ready' if ready else 'NOT READY: ' + said})"
        )
    return "; ".join(notes)


def _table(
    runs: dict[str, tuple[str, str]], state: dict[str, dict[str, Any]], notes: dict[str, str]
) -> Table:
    table = Table("task", "run", "status", "steps", "waiting on", expand=True)
    for label, (run_id, _task) in runs.items():
        run = state.get(run_id)
        if run is None:
            table.add_row(label, run_id[:8], "[dim]queued[/]", "", "planner has not started it")
            continue
        steps = " ".join(f"{_ICON.get(s['status'], s['status'])}{s['id']}" for s in run["steps"])
        colour = {"completed": "green", "failed": "red"}.get(run["status"], "yellow")
        table.add_row(
            label, run_id[:8], f"[{colour}]{run['status']}[/]", steps, notes.get(run_id, "")
        )
    return table


def _at_approval(run: dict[str, Any] | None) -> bool:
    return run is not None and any(
        s["status"] == "running" and _STEP_TYPES.get(s["id"]) == "approval" for s in run["steps"]
    )


def watch(
    console: Console,
    platform: Platform,
    runs: dict[str, tuple[str, str]],
    timeout_s: float,
    stop_at_approval: str | None,
) -> dict[str, dict[str, Any]]:
    """Poll the planner until every run is final (or one waits for its approval)."""
    state: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    with Live(_table(runs, state, notes), console=console, refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            for run_id, _task in runs.values():
                try:
                    found = platform.run(run_id, as_="olivia")
                except ApiError as exc:
                    notes[run_id] = f"planner: {exc}"[:80]
                    continue
                if found is not None:
                    state[run_id] = found
                    notes[run_id] = _waiting_on(platform, found)
            live.update(_table(runs, state, notes))
            others_final = all(
                state.get(rid, {}).get("status") in FINAL
                for rid, _ in runs.values()
                if rid != stop_at_approval
            )
            if stop_at_approval and others_final and _at_approval(state.get(stop_at_approval)):
                break
            if all(state.get(rid, {}).get("status") in FINAL for rid, _ in runs.values()):
                break
            time.sleep(0.4)
    console.print()
    return state
