"""`approval` CLI: serve the service, or list, show, approve, reject and delegate via its API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

__all__ = ["approvals", "cli"]

cli = typer.Typer(help=__doc__, no_args_is_help=False, add_completion=False)

Url = Annotated[str, typer.Option(envvar="APPROVAL_URL", help="base URL of the approval API")]
Key = Annotated[
    str, typer.Option(envvar="APPROVAL_API_KEY", help="API key or JWT", show_default=False)
]
Comment = Annotated[str | None, typer.Option(help="a comment kept with the decision")]


@cli.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """With no command, run the service."""
    if ctx.invoked_subcommand is None:
        serve()


@cli.command()
def serve() -> None:
    """Run the service (bus consumer, timers, webhooks, HTTP API) until SIGTERM."""
    from .app import serve as run
    from .settings import ApprovalSettings

    run(ApprovalSettings())


def _call(
    method: str,
    url: str,
    key: str,
    path: str,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    with httpx.Client(base_url=url, timeout=10.0) as client:
        response = client.request(
            method, path, json=body, params=params, headers={"Authorization": f"Bearer {key}"}
        )
    try:
        payload = response.json() if response.content else {}
    except ValueError:  # a proxy's HTML error page, say
        payload = {"code": "http_error", "message": response.text[:200]}
    if response.is_error:
        typer.echo(
            f"error {response.status_code} {payload.get('code')}: {payload.get('message')}",
            err=True,
        )
        raise typer.Exit(1)
    return payload


@cli.command()
def pending(
    api_key: Key,
    url: Url = "http://127.0.0.1:8085",
    run_id: Annotated[str | None, typer.Option(help="only this run")] = None,
    role: Annotated[str | None, typer.Option(help="only requests this role may approve")] = None,
    min_age: Annotated[
        float | None, typer.Option(min=0, help="only requests waiting at least this many seconds")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=1000, help="at most this many")] = None,
) -> None:
    """List pending requests, oldest first."""
    wanted = {"run_id": run_id, "role": role, "min_age_s": min_age, "limit": limit}
    params = {name: value for name, value in wanted.items() if value is not None}
    rows = _call("GET", url, api_key, "/v1/approvals", params=params)
    if not rows:
        typer.echo("no pending approval requests match", err=True)
    for row in rows:
        typer.echo(
            f"{row['id']}  {row['status']}  needs {row['required_approvals']}  "
            f"level {row['level']}  due {row['deadline']}  {row['subject']}"
        )


@cli.command()
def show(approval_id: str, api_key: Key, url: Url = "http://127.0.0.1:8085") -> None:
    """Show one request: payload, context, votes, delegations."""
    typer.echo(json.dumps(_call("GET", url, api_key, f"/v1/approvals/{approval_id}"), indent=2))


def _vote(
    choice: str, approval_id: str, key: str, url: str, sha: str | None, comment: str | None
) -> None:
    if sha is None:
        # Bind the vote to the payload shown now; a different payload is refused server-side.
        current = _call("GET", url, key, f"/v1/approvals/{approval_id}")
        sha = current["payload_sha256"]
        typer.echo(json.dumps(current.get("payload") or current.get("details"), indent=2))
    body = {"payload_sha256": sha, "comment": comment}
    result = _call("POST", url, key, f"/v1/approvals/{approval_id}/{choice}", body)
    typer.echo(
        f"{result['approval_id']}: {result['status']} "
        f"({result['approvals']} approvals, {result['rejections']} rejections)"
    )


Sha = Annotated[
    str | None, typer.Option("--payload-sha256", help="hash you reviewed (default: current)")
]


@cli.command()
def approve(
    approval_id: str,
    api_key: Key,
    url: Url = "http://127.0.0.1:8085",
    payload_sha256: Sha = None,
    comment: Comment = None,
) -> None:
    """Approve a request."""
    _vote("approve", approval_id, api_key, url, payload_sha256, comment)


@cli.command()
def reject(
    approval_id: str,
    api_key: Key,
    url: Url = "http://127.0.0.1:8085",
    payload_sha256: Sha = None,
    comment: Comment = None,
) -> None:
    """Reject a request."""
    _vote("reject", approval_id, api_key, url, payload_sha256, comment)


@cli.command()
def delegate(
    approval_id: str,
    to: str,
    api_key: Key,
    url: Url = "http://127.0.0.1:8085",
    comment: Comment = None,
) -> None:
    """Hand your vote on a request to another person."""
    result = _call(
        "POST",
        url,
        api_key,
        f"/v1/approvals/{approval_id}/delegate",
        {"to": to, "comment": comment},
    )
    typer.echo(f"{result['approval_id']}: vote delegated to {result['delegate']}")


# `agentbus approvals ...`: the same commands in the agentbus CLI (an `agentbus.cli` entry
# point), without `serve`.
approvals = typer.Typer(
    help="approvals: pending requests, and approving, rejecting or delegating them",
    no_args_is_help=True,
    add_completion=False,
)
for _command in (pending, show, approve, reject, delegate):
    approvals.command()(_command)
