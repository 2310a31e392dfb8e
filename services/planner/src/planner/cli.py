"""The `planner` command: serve, validate definitions offline, and drive the HTTP API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Column, Table

from .validation import DefinitionError, parse_definition
from .versions import content_hash

__all__ = ["app", "definitions", "runs", "tasks"]

app = typer.Typer(help="agentbus planner: workflows, tasks and runs", no_args_is_help=False)
definitions = typer.Typer(
    help="workflow definitions: validate, draft, review, publish, deprecate, diff",
    no_args_is_help=True,
)
runs = typer.Typer(help="runs: list, show, watch live, cancel", no_args_is_help=True)
# `agentbus workflows|runs|tasks ...` are these groups (`agentbus.cli` entry points).
tasks = typer.Typer(
    help="tasks: submit one through the planner's HTTP ingress", no_args_is_help=True
)
app.add_typer(definitions, name="definitions")
app.add_typer(runs, name="runs")
console = Console()

# A definition file that must exist: a missing one is a usage error, not a traceback.
SourceFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
Url = Annotated[str, typer.Option("--url", envvar="PLANNER_URL", help="planner API base URL")]
Key = Annotated[str, typer.Option("--api-key", envvar="PLANNER_API_KEY", help="API key")]
_URL = "http://127.0.0.1:8081"
_FINAL = {"completed", "failed", "cancelled"}


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """With no command: serve (consumers, timers and the HTTP API)."""
    if ctx.invoked_subcommand is None:
        serve()


@app.command()
def serve() -> None:
    """Run the planner service with settings from PLANNER_* variables."""
    from .app import serve as run
    from .settings import PlannerSettings

    run(PlannerSettings())


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Validate definition files offline; exit 1 and list every issue if any is invalid."""
    failed = False
    for path in files:
        try:
            definition = parse_definition(path.read_text())
        except DefinitionError as exc:
            failed = True
            console.print(f"[red]✗ {path}[/red]")
            for issue in exc.issues:
                console.print(f"    {issue}")
            continue
        console.print(
            f"[green]✓ {path}[/green] {definition.name}@{definition.version} "
            f"{content_hash(definition)}"
        )
    raise typer.Exit(1 if failed else 0)


definitions.command("validate")(validate)


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30.0)


def _call(url: str, key: str, method: str, path: str, **kwargs: Any) -> Any:
    with _client(url, key) as client:
        response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            body = response.json()
            console.print(
                f"[red]{response.status_code} {body.get('code')}[/red]: {body.get('message')}"
            )
        except ValueError:
            console.print(f"[red]{response.status_code}[/red] {response.text}")
        raise typer.Exit(1)
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


@definitions.command("create")
def create(file: SourceFile, url: Url = _URL, api_key: Key = "") -> None:
    """Store a definition file as a draft."""
    body = _call(url, api_key, "POST", "/v1/definitions", json={"source": file.read_text()})
    console.print_json(data=body)


@definitions.command("list")
def list_definitions(url: Url = _URL, api_key: Key = "", name: str | None = None) -> None:
    """List definition versions and their status."""
    rows = _call(url, api_key, "GET", "/v1/definitions", params={"name": name} if name else {})
    table = Table("name", "version", "status", "author", "reviewer", "hash")
    for r in rows:
        table.add_row(
            r["name"],
            r["version"],
            r["status"],
            r["author"],
            r["reviewer"] or "",
            r["content_hash"][:19],
        )
    console.print(table)


def _transition(action: str) -> Any:
    def command(name: str, version: str, url: Url = _URL, api_key: Key = "") -> None:
        body = _call(url, api_key, "POST", f"/v1/definitions/{name}/{version}/{action}")
        console.print(f"{body['name']}@{body['version']}: {body['status']}")

    command.__doc__ = f"{action.capitalize()} a definition version."
    return command


for _action in ("submit", "approve", "reject", "publish", "deprecate"):
    definitions.command(_action)(_transition(_action))


@definitions.command("diff")
def diff(name: str, old: str, new: str, url: Url = _URL, api_key: Key = "") -> None:
    """Unified diff of two versions of a definition."""
    console.print(
        _call(url, api_key, "GET", f"/v1/definitions/{name}/diff", params={"from": old, "to": new}),
        highlight=False,
        markup=False,
    )


@definitions.command("draft")
def draft(goal: str, name: str, version: str = "0.1.0", url: Url = _URL, api_key: Key = "") -> None:
    """Ask a model to draft a definition from a goal (stored as a draft only)."""
    body = _call(
        url, api_key, "POST", "/v1/drafts", json={"goal": goal, "name": name, "version": version}
    )
    console.print_json(data=body)


@app.command()
def submit(
    workflow: str,
    task_id: Annotated[str, typer.Option("--task-id")],
    input_json: Annotated[str, typer.Option("--input")] = "{}",
    version: str | None = None,
    url: Url = _URL,
    api_key: Key = "",
) -> None:
    """Submit a task (idempotent per task id)."""
    body = {
        "task_id": task_id,
        "workflow": workflow,
        "workflow_version": version,
        "input": json.loads(input_json),
    }
    console.print_json(data=_call(url, api_key, "POST", "/v1/tasks", json=body))


tasks.command("submit")(submit)


@runs.command("list")
def list_runs(
    url: Url = _URL,
    api_key: Key = "",
    workflow: str | None = None,
    status: str | None = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, one run each")] = False,
) -> None:
    """List runs, newest first."""
    params: dict[str, Any] = {"limit": limit}
    params |= {k: v for k, v in {"workflow": workflow, "status": status}.items() if v}
    found = _call(url, api_key, "GET", "/v1/runs", params=params)
    if as_json:
        for r in found:
            typer.echo(json.dumps(r))
        return
    # Run ids whole (what `runs show` takes), status and time on one line; the task and
    # workflow names wrap on a narrow terminal.
    table = Table(
        Column("run", no_wrap=True, min_width=36),
        Column("task", overflow="fold", min_width=8),
        Column("workflow", overflow="fold", min_width=8),
        Column("status", no_wrap=True),
        Column("created (UTC)", overflow="fold", min_width=10),
        box=None,
        pad_edge=False,
    )
    for r in found:
        table.add_row(
            r["run_id"],
            r["task_id"],
            f"{r['workflow']}@{r['version']}",
            r["status"],
            r["created_at"][:19].replace("T", " "),
        )
    console.print(table)


@runs.command("show")
def show(run_id: str, url: Url = _URL, api_key: Key = "") -> None:
    """A run's status, pinned version and steps."""
    console.print(_run_table(_call(url, api_key, "GET", f"/v1/runs/{run_id}")))


@runs.command("cancel")
def cancel(
    run_id: str, reason: str = "cancelled from the CLI", url: Url = _URL, api_key: Key = ""
) -> None:
    """Cancel a run."""
    body = _call(url, api_key, "POST", f"/v1/runs/{run_id}/cancel", json={"reason": reason})
    console.print(f"{body['run_id']}: {body['status']}")


@runs.command("watch")
def watch(
    run_id: str, url: Url = _URL, api_key: Key = "", interval: float = 0.5, timeout: float = 600.0
) -> None:
    """Follow a run live until it ends."""
    deadline = time.monotonic() + timeout
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            run = _call(url, api_key, "GET", f"/v1/runs/{run_id}")
            live.update(_run_table(run))
            if run["status"] in _FINAL or time.monotonic() > deadline:
                break
            time.sleep(interval)


def _run_table(run: dict[str, Any]) -> Table:
    wf = run["workflow"]
    title = f"run {run['run_id']} · {wf['name']}@{wf['version']} · {run['status']}" + (
        f" · {run['error']['message']}" if run.get("error") else ""
    )
    table = Table("step", "status", "attempt", "ms", "output / error", title=title)
    colours = {"completed": "green", "failed": "red", "running": "yellow", "skipped": "dim"}
    for step in run["steps"]:
        detail = step["error"]["message"] if step.get("error") else json.dumps(step["output"])
        colour = colours.get(step["status"], "white")
        table.add_row(
            step["id"],
            f"[{colour}]{step['status']}[/{colour}]",
            str(step["attempt"]),
            str(step["duration_ms"] or ""),
            (detail or "")[:80],
        )
    return table


if __name__ == "__main__":
    app()
