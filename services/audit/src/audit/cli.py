"""The `audit` command: serve, verify, replay, export, report, checkpoint, keys."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from agentbus.bus import unit_factory
from agentbus.http import run_async
from agentbus.storage import create_engine

from .chain import Verification
from .reader import Window
from .replay import ReplayFilter, ReplayStats, replay
from .settings import AuditSettings
from .signing import (
    CheckpointSigner,
    CheckpointVerifier,
    generate_private_key,
    load_private_key,
    load_public_key,
    public_key_text,
)
from .sinks import JsonlSink, ReplaySink, StoreSink

__all__ = ["app"]

app = typer.Typer(
    help="agentbus audit: append-only, hash-chained audit trail", invoke_without_command=True
)
console = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="store URL (default: the service's)")
]
PublicKey = Annotated[
    str | None,
    typer.Option("--public-key", help="trusted key: base64 or a file (default: the service's)"),
]
Tenant = Annotated[str | None, typer.Option("--tenant", help="only this tenant")]


@app.callback()
def default(ctx: typer.Context) -> None:
    """Without a command, serve: consume the audit topic and answer the HTTP API."""
    if ctx.invoked_subcommand is None:
        serve()


@app.command()
def serve() -> None:
    """Run the service: bus consumer, checkpoints and HTTP API, until SIGTERM."""
    from agentbus.http import run_service
    from agentbus.telemetry import configure_logging, setup_telemetry

    from .app import create_app

    settings = AuditSettings()
    configure_logging("audit", settings.log_level)
    telemetry = setup_telemetry("audit", settings.telemetry)
    try:
        run_service(create_app(settings, telemetry=telemetry).http, settings.http)
    finally:
        telemetry.shutdown()


def _trust(settings: AuditSettings, public_key: str | None) -> CheckpointVerifier:
    if public_key is not None:
        return CheckpointVerifier(load_public_key(public_key))
    from .app import load_signer

    return CheckpointVerifier(load_signer(settings.signing).public_key)


def _print(results: list[Verification]) -> bool:
    table = Table("tenant", "records", "head seq", "checkpoints", "result")
    for r in results:
        verdict = "[green]ok[/]" if r.ok else f"[red]first bad seq {r.first_bad_seq}[/]"
        table.add_row(r.tenant_id, str(r.records), str(r.head_seq), str(r.checkpoints), verdict)
    console.print(table)
    for r in results:
        for problem in r.problems:
            console.print(
                f"[red]{r.tenant_id}[/]: seq {problem.seq} {problem.kind}: {problem.message}"
            )
    return all(r.ok for r in results)


Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="processes (default: replay one per idle core, verify one per core)",
    ),
]


@app.command()
def verify(
    tenant: Tenant = None,
    export: Annotated[Path | None, typer.Option("--export", help="a JSON Lines export")] = None,
    database_url: DatabaseUrl = None,
    public_key: PublicKey = None,
    workers: Workers = None,
) -> None:
    """Check chains and checkpoints; exit 1 naming the first bad seq of each broken chain."""
    from .verify import store_tenants, verify_export, verify_store

    settings = AuditSettings()
    trust = _trust(settings, public_key)
    if export is not None:
        results = verify_export(export, trust, tenant, workers=workers)
    else:

        async def run() -> list[Verification]:
            engine = create_engine(database_url or settings.bus.database_url)
            uow = unit_factory(engine)
            try:
                tenants = [tenant] if tenant else await store_tenants(uow)
                return [await verify_store(uow, t, trust) for t in tenants]
            finally:
                await engine.dispose()

        results = asyncio.run(run())
    if not _print(results):
        raise typer.Exit(1)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a timezone, e.g. 2026-11-21T06:00:00Z")
    return when


@app.command("replay")
def replay_command(
    out: Annotated[Path | None, typer.Option("--out", help="write a JSON Lines export")] = None,
    database_url: Annotated[
        str | None, typer.Option("--into", help="a FRESH store URL to rebuild")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="ISO time (inclusive)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO time (exclusive)")] = None,
    tenant: Tenant = None,
    run: Annotated[str | None, typer.Option("--run", help="only this run")] = None,
    topic: Annotated[str | None, typer.Option("--topic")] = None,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap")] = None,
    strict: Annotated[
        bool, typer.Option(help="validate every record against the contract")
    ] = False,
    sign: Annotated[bool, typer.Option(help="sign each rebuilt chain head")] = True,
    verify_after: Annotated[
        bool, typer.Option("--verify/--no-verify", help="verify what was written")
    ] = True,
    workers: Workers = None,
) -> None:
    """Rebuild chains from the audit topic (read-only: no group, no commits, no publishing)."""
    if (out is None) == (database_url is None):
        raise typer.BadParameter("give exactly one of --out FILE or --into DATABASE_URL")
    settings = AuditSettings()
    window = Window(topic or settings.topic, _when(start), _when(end))
    where = ReplayFilter(tenant, run, strict)
    from .app import load_signer

    signer = load_signer(settings.signing) if sign else None
    stats = run_async(
        _replay(
            bootstrap or settings.bus.bootstrap_servers,
            window,
            where,
            out,
            database_url,
            signer,
            workers,
        )
    )
    console.print(
        f"replayed {stats.written} records ({stats.scanned} scanned, {stats.rejected} rejected) "
        f"for {len(stats.heads)} tenants in {stats.seconds:.2f} s ({stats.rate:,.0f} records/s)"
    )
    for reason in stats.rejections:
        console.print(f"[yellow]rejected[/] {reason}")
    if verify_after and signer is not None:
        # Read back what was written, as an auditor would: a storage or writer fault shows.
        trust = CheckpointVerifier(signer.public_key)
        if out is not None:
            results = _verify_export(out, trust, workers)
        else:
            assert database_url is not None
            results = asyncio.run(_verify_url(database_url, trust, sorted(stats.heads)))
        if not _print(results):
            raise typer.Exit(1)


def _verify_export(
    path: Path, trust: CheckpointVerifier, workers: int | None
) -> list[Verification]:
    from .verify import verify_export

    return verify_export(path, trust, workers=workers)


async def _verify_url(
    url: str, trust: CheckpointVerifier, tenants: list[str]
) -> list[Verification]:
    from .verify import verify_store

    engine = create_engine(url)
    try:
        return [await verify_store(unit_factory(engine), t, trust) for t in tenants]
    finally:
        await engine.dispose()


async def _replay(
    bootstrap: str,
    window: Window,
    where: ReplayFilter,
    out: Path | None,
    database_url: str | None,
    signer: CheckpointSigner | None,
    workers: int | None,
) -> ReplayStats:
    engine = None
    sink: ReplaySink
    if out is not None:
        sink = JsonlSink(out)
    else:
        from agentbus.storage.migrations import upgrade

        from .migrations import VERSIONS

        assert database_url is not None
        engine = create_engine(database_url)
        await upgrade(engine, [VERSIONS])
        sink = StoreSink(engine)
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=not sys.stderr.isatty()) as bar:
            task = bar.add_task("replay", total=None)
            return await replay(
                bootstrap,
                window,
                sink,
                where=where,
                signer=signer,
                on_total=lambda total: bar.update(task, total=total),
                on_fetched=lambda n: bar.advance(task, n),
                workers=workers,
            )
    finally:
        if engine is not None:
            await engine.dispose()


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write")],
    tenant: Tenant = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the store's chains and checkpoints as JSON Lines (verify it with --export)."""
    from .verify import export_store

    settings = AuditSettings()

    async def run() -> dict[str, int]:
        engine = create_engine(database_url or settings.bus.database_url)
        try:
            return await export_store(unit_factory(engine), out, tenant)
        finally:
            await engine.dispose()

    counts = asyncio.run(run())
    console.print(f"exported {sum(counts.values())} records of {len(counts)} tenants to {out}")


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="the run")],
    tenant: Annotated[str, typer.Option("--tenant", help="the run's tenant")],
    html: Annotated[bool, typer.Option("--html", help="HTML instead of JSON")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Print a run's compliance report (JSON, or a self-contained HTML page)."""
    import orjson

    from .html import render_report
    from .report import build_report
    from .store import AuditRepository

    settings = AuditSettings()

    async def run() -> list[tuple[int, str, dict[str, object]]]:
        engine = create_engine(database_url or settings.bus.database_url)
        try:
            async with unit_factory(engine)(tenant) as work:
                rows = await AuditRepository(work).for_run(run_id)
                return [(r.seq, r.hash, orjson.loads(r.body)) for r in rows]
        finally:
            await engine.dispose()

    rows = asyncio.run(run())
    if not rows:
        console.print(f"[red]no records of run {run_id!r} for tenant {tenant!r}[/]")
        raise typer.Exit(1)
    data = build_report(tenant, run_id, rows)
    sys.stdout.write(render_report(data) if html else json.dumps(data, indent=2) + "\n")


@app.command()
def checkpoint() -> None:
    """Sign every chain head that moved since its last checkpoint, now."""
    from .app import load_signer
    from .checkpoints import sign_heads

    settings = AuditSettings()
    signer = load_signer(settings.signing)

    async def run() -> int:
        engine = create_engine(settings.bus.database_url)
        try:
            return await sign_heads(unit_factory(engine), signer)
        finally:
            await engine.dispose()

    console.print(f"signed {asyncio.run(run())} chain heads with key {signer.key_id}")


@app.command()
def keygen() -> None:
    """Print a new private key (for AUDIT_SIGNING__PRIVATE_KEY) and its public key."""
    private = generate_private_key()
    public = public_key_text(load_private_key(private).public_key())
    sys.stdout.write(f"AUDIT_SIGNING__PRIVATE_KEY={private}\npublic key: {public}\n")


@app.command("public-key")
def public_key_command() -> None:
    """Print the public key that verifies this service's checkpoints."""
    from .app import load_signer

    sys.stdout.write(public_key_text(load_signer(AuditSettings().signing).public_key) + "\n")
