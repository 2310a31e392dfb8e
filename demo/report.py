"""The end of the demo: results, the audit timeline with cost, the HTML report and the trace."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from platform_api import Platform
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from traces import load_spans, trace_of_events, trace_tree

__all__ = ["show_audit", "show_results", "show_trace"]


def show_results(
    console: Console, state: dict[str, dict[str, Any]], runs: dict[str, tuple[str, str]]
) -> None:
    for label, (run_id, task_id) in runs.items():
        run = state.get(run_id)
        if run is None:
            console.print(f"[red]{label}: run {run_id} never started[/]")
            continue
        table = Table(
            "field",
            "value",
            title=f"{label}: task {task_id}, run {run_id} — {run['status']}",
            show_lines=False,
        )
        if run.get("error"):
            table.add_row("[red]error[/]", escape(json.dumps(run["error"])))
            table.add_row("failed step", str(run.get("failed_step")))
        for key, value in (run.get("output") or {}).items():
            table.add_row(key, escape(value if isinstance(value, str) else json.dumps(value)))
        console.print(table)


def _detail(data: dict[str, Any]) -> str:
    parts = []
    if data.get("guardrail"):
        g = data["guardrail"]
        parts.append(f"{g.get('decision')} {g.get('direction', '')} {g.get('findings') or ''}")
    if data.get("model"):
        m = data["model"]
        parts.append(f"{m.get('alias')} → {m.get('provider')}/{m.get('model')}")
    if data.get("usage"):
        u = data["usage"]
        parts.append(f"{u.get('prompt_tokens')}+{u.get('completion_tokens')} tokens")
    if data.get("cost_usd") is not None:
        parts.append(f"${data['cost_usd']}")
    if data.get("tool"):
        parts.append(f"{data['tool'].get('name')}@{data['tool'].get('version')}")
    if data.get("approval"):
        a = data["approval"]
        parts.append(" ".join(f"{k}={v}" for k, v in a.items() if v not in (None, [], {}))[:80])
    if data.get("error_code"):
        parts.append(f"error {data['error_code']}")
    return escape("; ".join(p for p in parts if p))


def show_audit(console: Console, platform: Platform, run_id: str, stack_dir: Path) -> str:
    """The run's records in chain order (waiting for the last one), its cost and HTML report."""
    deadline = time.monotonic() + 30
    records = platform.audit_records(run_id, as_="olivia")
    while not any(r["action"].startswith("run.") for r in records) and time.monotonic() < deadline:
        time.sleep(0.5)  # the audit service consumes audit.log asynchronously
        records = platform.audit_records(run_id, as_="olivia")
    table = Table(
        "seq",
        "time",
        "service / actor",
        "action (step)",
        "detail",
        title="audit timeline (GET /v1/audit?run_id=…, hash-chained)",
    )
    for r in records:
        data = r["entry"]["data"]
        actor = data.get("actor") or {}
        behalf = data.get("on_behalf_of") or {}
        who = actor.get("id", "") + (f" for {behalf['id']}" if behalf.get("id") else "")
        colour = "green" if r["outcome"] == "succeeded" else "red"
        table.add_row(
            str(r["seq"]),
            r["occurred_at"][11:22],
            who
            if who.startswith(r["entry"].get("source", ""))
            else f"{r['entry'].get('source')}: {who}",
            f"[{colour}]{r['action']}[/]" + (f" ({r['step_id']})" if r.get("step_id") else ""),
            _detail(data),
        )
    console.print(table)
    report = platform.audit_report(run_id, as_="olivia")
    totals = report.get("totals", {})
    console.print(
        f"[bold]cost of the run[/]: ${totals.get('cost_usd')} "
        f"({totals.get('prompt_tokens')} prompt + {totals.get('completion_tokens')} "
        f"completion tokens, {report.get('records')} audit records)"
    )
    verified = platform.audit_verify(as_="olivia")
    console.print(
        f"[bold]chain verification[/] (tenant acme): ok={verified.get('ok')}, "
        f"{verified.get('records')} records"
    )
    out = stack_dir / "reports" / f"{run_id}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(platform.audit_report_html(run_id, as_="olivia"), encoding="utf-8")
    console.print(
        f"HTML report: {out} (also GET http://127.0.0.1:8086/v1/audit/runs/{run_id}"
        "/report.html with an auditor's key)"
    )
    return str(out)


def show_trace(console: Console, platform: Platform, run_id: str, spans_file: Path) -> None:
    """Find the run's trace through its audit events and draw its hops."""
    event_ids = [r["event_id"] for r in platform.audit_records(run_id, as_="olivia")]
    deadline = time.monotonic() + 15  # services export spans in batches (about every 5 s)
    trace_id = None
    while time.monotonic() < deadline:
        spans = load_spans(spans_file)
        trace_id = trace_of_events(spans, event_ids)
        if trace_id is not None:
            _, summary = trace_tree(spans, trace_id)
            if "planner" in summary["services"] and len(summary["services"]) >= 5:
                break
        time.sleep(1.0)
    if trace_id is None:
        console.print(f"[red]no span of run {run_id} in {spans_file} yet[/]")
        return
    tree, summary = trace_tree(load_spans(spans_file), trace_id)
    console.print(tree)
    console.print(
        f"[bold]{summary['spans']} spans[/] in one trace, {summary['links']} with a "
        f"parent in it, {summary['roots']} root(s), across "
        f"{len(summary['services'])} services: {', '.join(summary['services'])}; "
        f"{summary['duration_ms']:.0f} ms from first to last span "
        f"(the approval wait included)"
    )
