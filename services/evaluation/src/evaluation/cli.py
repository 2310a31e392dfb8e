"""The `evaluation` command: serve, add datasets, run and compare evaluations, AgentOps."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from .shadow import SHADOW_PREFIX

__all__ = ["app"]

app = typer.Typer(help="agentbus evaluation: datasets, evaluations, the gate, AgentOps")
datasets = typer.Typer(help="evaluation datasets of workflows")
app.add_typer(datasets, name="datasets")
console = Console()

Url = Annotated[str, typer.Option("--url", envvar="EVALUATION_URL", help="evaluation API base URL")]
Key = Annotated[str, typer.Option("--api-key", envvar="EVALUATION_API_KEY", help="API key")]
_URL = "http://127.0.0.1:8087"


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """With no command: serve (consumers and the HTTP API)."""
    if ctx.invoked_subcommand is None:
        serve()


@app.command()
def serve() -> None:
    """Run the evaluation service with settings from EVALUATION_* variables."""
    from .app import serve as run
    from .settings import EvaluationSettings

    run(EvaluationSettings())


def _call(url: str, key: str, method: str, path: str, **kwargs: Any) -> Any:
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30.0) as client:
        response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            body = response.json()
            console.print(f"[red]{response.status_code} {body['code']}[/red]: {body['message']}")
        except (ValueError, KeyError):
            console.print(f"[red]{response.status_code}[/red] {response.text[:500]}")
        raise typer.Exit(2)
    return response.json()


@datasets.command("add")
def add_dataset(manifest: Path, url: Url = _URL, key: Key = "") -> None:
    """Add a dataset version from a manifest (workflow, name, thresholds, cases: FILE.jsonl)."""
    spec = yaml.safe_load(manifest.read_text())
    cases = (manifest.parent / spec["cases"]).read_text()
    body = {
        "workflow": spec["workflow"],
        "name": spec["name"],
        "thresholds": spec.get("thresholds") or {},
        "cases_jsonl": cases,
    }
    row = _call(url, key, "POST", "/v1/datasets", json=body)
    console.print(
        f"{row['workflow']}/{row['name']} v{row['version']} "
        f"({row['cases']} cases) {row['content_hash']}"
    )


def _split(ref: str) -> tuple[str, str]:
    name, _, version = ref.partition("@")
    if not version:
        raise typer.BadParameter(f"{ref!r}: use WORKFLOW@VERSION")
    return name, version


@app.command()
def run(
    ref: Annotated[str, typer.Argument(help="WORKFLOW@VERSION")],
    dataset: Annotated[str | None, typer.Option(help="dataset name")] = None,
    timeout_s: Annotated[float, typer.Option(help="give up after this long")] = 600.0,
    url: Url = _URL,
    key: Key = "",
) -> None:
    """Run every case as an evaluation run; a table, then exit 0 (passed) or 1 (failed)."""
    workflow, version = _split(ref)
    body = {"workflow": workflow, "version": version, "dataset": dataset}
    started = _call(url, key, "POST", "/v1/evaluations", json=body)
    evaluation_id = started["evaluation_id"]
    view = _follow(url, key, evaluation_id, started["cases"], timeout_s)
    _print_evaluation(view)
    raise typer.Exit(0 if view["passed"] else 1)


def _follow(url: str, key: str, evaluation_id: str, total: int, timeout_s: float) -> Any:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    deadline = time.monotonic() + timeout_s
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(f"evaluation {evaluation_id}", total=total)
        while True:
            view = _call(url, key, "GET", f"/v1/evaluations/{evaluation_id}")
            progress.update(task, completed=view["done"])
            if view["status"] == "completed":
                return view
            if time.monotonic() > deadline:
                console.print(f"[red]timed out with {view['done']}/{total} cases done[/red]")
                raise typer.Exit(2)
            time.sleep(0.5)


def _print_evaluation(view: dict[str, Any]) -> None:
    table = Table(title=f"{view['workflow']}@{view['version']} on {view['dataset']['name']}")
    for column in ("case", "result", "score", "latency ms", "tokens", "cost $", "detail"):
        table.add_column(column)
    for case in view["cases"]:
        failed = [c["reason"] for c in case["checks"] if not c["passed"]]
        ok = case["status"] == "passed"
        table.add_row(
            case["case_id"],
            "[green]pass[/green]" if ok else f"[red]{case['status']}[/red]",
            f"{case['score']:.2f}" if case["score"] is not None else "-",
            str(case["latency_ms"] or "-"),
            str(case["tokens"]),
            case["cost_usd"],
            escape((case["error"] or "; ".join(failed))[:80]),
        )
    console.print(table)
    s = view["summary"]
    p95 = s["latency_p95_ms"]
    console.print(
        f"pass rate {s['pass_rate']:.2f} ({s['passed']}/{s['cases']})  "
        f"p50 {s['latency_p50_ms']} ms  p95 {p95} ms  tokens/run {s['tokens_per_run']:.1f}  "
        f"cost/run ${s['cost_per_run_usd']}  judge ${s['judge_cost_usd']}"
    )
    if view["dataset"]["name"].startswith(SHADOW_PREFIX):
        # A shadow evaluation gates nothing: it says how often the draft agrees with what
        # production recorded, which a person reads case by case.
        console.print(
            f"shadow: {s['passed']}/{s['cases']} cases agree with the recorded production "
            "outputs (no thresholds; this does not gate publishing)"
        )
    elif view["passed"]:
        console.print("[green]PASSED[/green] every threshold")
    for breach in view["breaches"]:
        console.print(f"[red]FAILED[/red] {escape(breach)}")
    # What `compare` and `gate` take: the evaluation's id, the version's content hash.
    console.print(
        f"evaluation {view['evaluation_id']}  workflow {view['workflow']}@{view['version']} "
        f"{view['content_hash']}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("list")
def list_evaluations(
    ref: Annotated[
        str | None, typer.Argument(help="WORKFLOW@VERSION (default: the most recent)")
    ] = None,
    url: Url = _URL,
    key: Key = "",
) -> None:
    """Evaluations with their ids, newest first: of one version, or the most recent."""
    params: dict[str, str] = {}
    if ref is not None:
        params["workflow"], params["version"] = _split(ref)
    rows = _call(url, key, "GET", "/v1/evaluations", params=params)
    table = Table(
        Column("evaluation", no_wrap=True, min_width=32),
        Column("workflow", overflow="fold"),
        Column("status", no_wrap=True),
        Column("passed", no_wrap=True),
        Column("created (UTC)", overflow="fold", min_width=10),
        box=None,
        pad_edge=False,
    )
    for r in rows:
        passed = {True: "yes", False: "no", None: "-"}[r["passed"]]
        created = r["created_at"][:19].replace("T", " ")
        table.add_row(
            r["evaluation_id"], f"{r['workflow']}@{r['version']}", r["status"], passed, created
        )
    console.print(table)


@app.command()
def shadow(
    ref: Annotated[str, typer.Argument(help="WORKFLOW@DRAFT_VERSION")],
    source: Annotated[str, typer.Option("--from", help="version whose runs are replayed")],
    limit: Annotated[int, typer.Option(help="most recent production runs")] = 20,
    compare: Annotated[list[str] | None, typer.Option(help="JMESPath field to compare")] = None,
    timeout_s: Annotated[float, typer.Option(help="give up after this long")] = 600.0,
    url: Url = _URL,
    key: Key = "",
) -> None:
    """Evaluate a draft on recorded production runs of another version, case by case."""
    workflow, version = _split(ref)
    body = {
        "workflow": workflow,
        "version": version,
        "source_version": source,
        "limit": limit,
        "compare": compare or [],
    }
    started = _call(url, key, "POST", "/v1/shadow", json=body)
    view = _follow(url, key, started["evaluation_id"], started["cases"], timeout_s)
    _print_evaluation(view)


@app.command()
def show(evaluation_id: str, url: Url = _URL, key: Key = "") -> None:
    """An evaluation's table."""
    _print_evaluation(_call(url, key, "GET", f"/v1/evaluations/{evaluation_id}"))


@app.command()
def compare(a: str, b: str, url: Url = _URL, key: Key = "") -> None:
    """Two evaluations (ids) side by side, case by case, regressions first."""
    view = _call(url, key, "GET", "/v1/compare", params={"a": a, "b": b})
    table = Table(title=f"{view['a']['version']} → {view['b']['version']}")
    for column in ("case", "change", "A", "B"):
        table.add_column(column)

    def side(s: dict[str, Any] | None) -> str:
        return "-" if s is None else f"{'pass' if s['passed'] else 'fail'} {s['score']:.2f}"

    for row in view["cases"]:
        colour = "red" if row["change"] == "regression" else "white"
        table.add_row(
            row["case_id"], f"[{colour}]{row['change']}[/{colour}]", side(row["a"]), side(row["b"])
        )
    console.print(table)
    console.print(
        f"pass rate {view['a']['pass_rate']:.2f} → {view['b']['pass_rate']:.2f}, "
        f"{view['regressions']} regression(s)"
    )
    raise typer.Exit(1 if view["regressions"] else 0)


@app.command()
def gate(ref: str, content_hash: str, url: Url = _URL, key: Key = "") -> None:
    """Would WORKFLOW@VERSION with this content hash pass the publish gate?"""
    workflow, version = _split(ref)
    params = {"workflow": workflow, "version": version, "content_hash": content_hash}
    verdict = _call(url, key, "GET", "/v1/gate", params=params)
    mark = "[green]pass[/green] " if verdict["passed"] else "[red]refused[/red] "
    console.print(mark + escape(verdict["reason"]))
    raise typer.Exit(0 if verdict["passed"] else 1)


@app.command()
def override(ref: str, content_hash: str, reason: str, url: Url = _URL, key: Key = "") -> None:
    """Administrator: let this exact content hash through the gate (audited)."""
    workflow, version = _split(ref)
    body = {
        "workflow": workflow,
        "version": version,
        "content_hash": content_hash,
        "reason": reason,
    }
    row = _call(url, key, "POST", "/v1/gate/overrides", json=body)
    console.print(f"override of {row['workflow']}@{row['version']} recorded for {row['actor']}")


@app.command()
def ops(
    ref: Annotated[str, typer.Argument(help="WORKFLOW or WORKFLOW@VERSION")],
    window_s: Annotated[int | None, typer.Option(help="only runs started this recently")] = None,
    url: Url = _URL,
    key: Key = "",
) -> None:
    """AgentOps figures of a workflow's production runs."""
    workflow, _, version = ref.partition("@")
    params: dict[str, Any] = {"workflow": workflow}
    if version:
        params["version"] = version
    if window_s:
        params["window_s"] = window_s
    seen = _call(url, key, "GET", "/v1/agentops", params=params)
    table = Table(title=f"{ref} (production runs)")
    table.add_column("figure")
    table.add_column("value")
    for name, value in seen.items():
        if name not in ("workflow", "version"):
            table.add_row(name, "-" if value is None else str(value))
    console.print(table)


@app.command()
def feedback(run_id: str, outcome: str, url: Url = _URL, key: Key = "") -> None:
    """Mark a production run's outcome `correct` or `incorrect`."""
    _call(url, key, "POST", f"/v1/runs/{run_id}/feedback", json={"outcome": outcome})
    console.print(f"{run_id}: {outcome}")
