"""`make demo`: the whole platform on one machine, driven through its real APIs.

It starts the stack (`infra/dev/stack.sh up`: Kafka and every service as its own process),
publishes the example workflows through the planner's review lifecycle, submits refund
tasks over HTTP and one with plain Kafka headers, shows the runs live, grants the approval
through the approval API as the demo approver, then prints each result, the audit timeline
and cost of the approved run, its HTML report and its trace. Nothing here computes a result:
everything shown was read back from the services. The stack keeps running (`make down`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from plain_kafka import kcat_command, publish_task, task_headers
from platform_api import PORTS, ApiError, Platform, load_keys
from progress import watch
from report import show_audit, show_results, show_trace
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = "refund-triage-governed"
console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--stack-dir", type=Path, default=ROOT / "var" / "stack")
    parser.add_argument("--timeout", type=float, default=180.0, help="longest wait for a run")
    args = parser.parse_args()
    try:
        sys.exit(run(args.bootstrap, args.stack_dir, args.timeout))
    except ApiError as exc:
        console.print(f"[red]a service refused or did not answer:[/] {exc}")
        console.print("See `make ps` and `make logs` (var/stack/logs/<service>.log).")
        sys.exit(1)


def run(bootstrap: str, stack_dir: Path, timeout_s: float) -> int:
    console.rule("1. the stack: Kafka and six services as separate processes")
    subprocess.run([str(ROOT / "infra/dev/stack.sh"), "up"], check=True)
    ps = subprocess.run(
        [str(ROOT / "infra/dev/stack.sh"), "ps"], check=True, capture_output=True, text=True
    )
    console.print(ps.stdout)
    platform = Platform(load_keys(stack_dir))
    not_ready = [name for name in PORTS if not platform.ready(name)[0]]
    if not_ready:
        console.print(f"[red]not ready:[/] {', '.join(not_ready)} (make logs)")
        return 1

    console.rule("2. provisioning")
    provision(platform, stack_dir)

    console.rule("3. tasks through the real ingress")
    runs = submit(platform, bootstrap)

    console.rule("4. progress (live)")
    approval_run = runs["approval"][0]
    state = watch(console, platform, runs, timeout_s, stop_at_approval=approval_run)
    if state.get(approval_run, {}).get("status") == "running":
        console.rule("5. a human approves (the approval API, as demo approver dana)")
        approve(platform, approval_run, stack_dir)
        state = watch(console, platform, runs, timeout_s, stop_at_approval=None)
    unfinished = [
        k
        for k, (rid, _) in runs.items()
        if state.get(rid, {}).get("status") not in ("completed", "failed", "cancelled")
    ]

    console.rule("6. results (read back from the planner)")
    show_results(console, state, runs)
    console.rule(f"7. audit trail and cost of the approved run {approval_run}")
    html = show_audit(console, platform, approval_run, stack_dir)
    console.rule("8. the run's trace (spans exported to var/stack/traces.jsonl)")
    show_trace(console, platform, approval_run, stack_dir / "traces.jsonl")
    console.print(
        Panel(
            f"HTML report of the run: [bold]{html}[/]\n"
            "The stack keeps running: [bold]make ps[/], [bold]make logs[/] "
            "(SERVICE=planner to follow one), [bold]make down[/] to stop it.",
            title="done",
        )
    )
    if unfinished:
        console.print(f"[red]runs that did not finish in {timeout_s:.0f} s:[/] {unfinished}")
        return 1
    return 0


def provision(platform: Platform, stack_dir: Path) -> None:
    """Workflows through draft -> review -> publish; show what else `make up` configured."""
    principals = json.loads((stack_dir / "api-keys.json").read_text())
    table = Table("principal (tenant acme)", "roles", title=f"API keys ({stack_dir}/keys.json)")
    for p in principals:
        table.add_row(p["subject"], ", ".join(p["roles"]))
    console.print(table)

    table = Table(
        "workflow",
        "status",
        "author",
        "reviewer",
        "content hash",
        title="workflows: created by olivia, approved and published by rita",
    )
    files = sorted((ROOT / "demo/workflows").glob("*.yaml")) + sorted(
        (ROOT / "services/planner/workflows").glob("*.yaml")
    )
    for path in files:
        try:
            view = platform.publish_definition(path.read_text(), author="olivia", reviewer="rita")
            table.add_row(
                f"{view['name']}@{view['version']}",
                view["status"],
                view["author"],
                view.get("reviewer") or "-",
                view["content_hash"][:19] + "…",
            )
        except ApiError as exc:
            table.add_row(path.name, "[red]refused[/]", "-", "-", str(exc)[:60])
    console.print(table)

    tools = platform.call("tool-executor", "GET", "/v1/tools", as_="olivia")
    grants = platform.call("tool-executor", "GET", "/v1/grants", as_="olivia")
    models = platform.call("model-router", "GET", "/v1/models", as_="olivia")
    table = Table("service", "what is configured", title="provisioned from demo/config/")
    table.add_row(
        "tool-executor",
        "tools: "
        + ", ".join(sorted(t["name"] for t in tools))
        + "\ngrants (acme): "
        + ", ".join(f"{g['tool']} → {g['hosts']}" for g in grants),
    )
    table.add_row(
        "model-router",
        "aliases: " + ", ".join(_alias_names(models)) + " (local deterministic provider)",
    )
    policies = sorted(p.stem for p in (ROOT / "demo/config/policies/acme").glob("*.yaml"))
    table.add_row("guardrail", "policies (acme): " + ", ".join(policies))
    table.add_row(
        "approval",
        "step `approve`: role refunds-lead, 1 approval, deadline 1 h (dana holds the role)",
    )
    console.print(table)


def _alias_names(models: Any) -> list[str]:
    items = models.get("data", models) if isinstance(models, dict) else models
    return sorted(str(m.get("id") or m.get("alias") or m) for m in items)


def submit(platform: Platform, bootstrap: str) -> dict[str, tuple[str, str]]:
    """Two tasks over HTTP, one as plain Kafka headers; returns label -> (run id, task id)."""
    tag = time.strftime("%H%M%S") + "-" + uuid.uuid4().hex[:4]
    runs: dict[str, tuple[str, str]] = {}
    http_tasks = {
        "approval": (
            "A-1001",
            "My kettle arrived leaking. Refund to IBAN DE89 3704 0044 0532 "
            "0130 00 please; call me on +44 20 7946 0958.",
        ),
        "automatic": ("A-1002", "Two mugs broke in transit. Reach me at jane.doe@example.com."),
    }
    for label, (order, message) in http_tasks.items():
        task_id = f"demo-{label}-{tag}"
        body = {
            "task_id": task_id,
            "workflow": WORKFLOW,
            "input": {"order_id": order, "message": message},
        }
        console.print(f"[bold]POST /v1/tasks[/] ({label}, order {order}):")
        console.print(
            Syntax(
                'curl -X POST http://127.0.0.1:8081/v1/tasks -H "X-API-Key: $(jq -r .olivia '
                "var/stack/keys.json)\" -H 'content-type: application/json' -d '"
                + json.dumps(body)
                + "'",
                "bash",
                word_wrap=True,
            )
        )
        accepted = platform.submit(task_id, WORKFLOW, body["input"], as_="olivia")
        console.print(f"  → 202 run {accepted['run_id']}")
        runs[label] = (accepted["run_id"], task_id)

    task_id = f"demo-kafka-{tag}"
    task = {
        "task_id": task_id,
        "workflow": WORKFLOW,
        "input": {
            "order_id": "B-1042",
            "message": "Wrong colour delivered, card ending 4111 1111 1111 1111 was charged.",
        },
        "requested_by": {"kind": "system", "id": "crm"},
    }
    headers = task_headers("acme", "urn:acme:crm")
    console.print("[bold]a plain Kafka record[/] (CloudEvents headers + JSON, no agentbus code):")
    console.print(Syntax(kcat_command(bootstrap, task_id, headers, task), "bash", word_wrap=True))
    publish_task(bootstrap, task_id, headers, task)
    deadline = time.monotonic() + 30
    run_id = None
    while run_id is None and time.monotonic() < deadline:
        run_id = platform.run_of_task(task_id, WORKFLOW, as_="olivia")
        if run_id is None:
            time.sleep(0.3)
    if run_id is None:
        console.print("[red]the planner has not started a run for the Kafka task in 30 s[/]")
        run_id = "(not started)"
    console.print(f"  → run {run_id} (trace {headers['ce_traceparent'].split('-')[1]})")
    runs["kafka"] = (run_id, task_id)
    return runs


def approve(platform: Platform, run_id: str, stack_dir: Path) -> None:
    """Show the pending request as the approver sees it, then vote through the API."""
    pending = platform.pending_approvals(run_id, as_="dana")
    if not pending:
        console.print("[red]no pending approval for the run[/]")
        return
    request = platform.call("approval", "GET", f"/v1/approvals/{pending[0]['id']}", as_="dana")
    shown = json.dumps(request.get("payload") or request.get("details"))
    console.print(
        Panel(
            f"[bold]{request['subject']}[/]\nrequested by {request['requested_by']}, roles "
            f"{request['roles']}, {request['required_approvals']} approval(s), deadline "
            f"{request['deadline']}\npayload: {shown}\n"
            f"payload_sha256: {request['payload_sha256']}",
            title=f"approval {request['id']}",
        )
    )
    console.print("What the approver types:")
    console.print(
        Syntax(
            "APPROVAL_URL=http://127.0.0.1:8085 "
            f"APPROVAL_API_KEY=$(jq -r .dana {stack_dir}/keys.json)"
            f" uv run --package approval approval approve {request['id']} --comment "
            '"order checked, kettle damaged"',
            "bash",
            word_wrap=True,
        )
    )
    console.print(
        "(the same over HTTP: POST /v1/approvals/{id}/approve "
        '{"payload_sha256": ..., "comment": ...}) — sent now:'
    )
    decided = platform.approve(request, "order checked, kettle damaged", as_="dana")
    console.print(
        f"  → {decided.get('status')} ({decided.get('approvals')} approval(s), "
        f"{decided.get('rejections')} rejection(s))"
    )


if __name__ == "__main__":
    main()
