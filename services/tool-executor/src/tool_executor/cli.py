"""`tool-executor`: serve, or administer the registry and grants in the service's database."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentbus.bus import unit_factory
from agentbus.http import run_service
from agentbus.storage import UnitOfWorkFactory, create_engine
from agentbus.storage.migrations import upgrade
from agentbus.telemetry import configure_logging, setup_telemetry

from .catalog import grant_all, import_mcp_server, register_files
from .domain import SHARED_TENANT
from .files import BUNDLED_TOOLS
from .mcp_tools import McpConnections
from .repositories import CallRepository, DefinitionRepository, GrantRepository
from .secrets import SecretResolver
from .settings import ToolExecutorSettings
from .store import MIGRATIONS

__all__ = ["run"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool-executor", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="consume tool.requests and serve the HTTP API (default)")
    tools = sub.add_parser("tools", help="the tool registry").add_subparsers(dest="action")
    listing = tools.add_parser("list", help="tool versions a tenant sees")
    listing.add_argument("--tenant", default=SHARED_TENANT)
    listing.add_argument("--json", action="store_true")
    load = tools.add_parser("load", help="register the YAML definitions in a directory")
    load.add_argument("directory", type=Path, nargs="?", default=BUNDLED_TOOLS)
    grants = sub.add_parser("grants", help="per-tenant grants").add_subparsers(dest="action")
    glist = grants.add_parser("list", help="a tenant's grants")
    glist.add_argument("--tenant", required=True)
    gload = grants.add_parser("load", help="put every grant of a YAML grants file")
    gload.add_argument("file", type=Path)
    calls = sub.add_parser("calls", help="the idempotency store").add_subparsers(dest="action")
    unknown = calls.add_parser("unknown", help="calls whose outcome is unknown (reconcile them)")
    unknown.add_argument("--tenant", required=True)
    resolve = calls.add_parser("resolve", help="record what an unknown call really did")
    resolve.add_argument("--tenant", required=True)
    resolve.add_argument("key", help="the idempotency key")
    verdict = resolve.add_mutually_exclusive_group(required=True)
    verdict.add_argument(
        "--applied", metavar="RESULT_JSON", help="it took effect: replay this result"
    )
    verdict.add_argument(
        "--not-applied", action="store_true", help="it did not: the next attempt calls again"
    )
    mcp = sub.add_parser("mcp", help="MCP servers").add_subparsers(dest="action")
    mimport = mcp.add_parser("import", help="import a configured MCP server's tools")
    mimport.add_argument("server")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Parse `argv` and run the command; returns the exit status."""
    args = _parser().parse_args(argv)
    settings = ToolExecutorSettings()
    configure_logging("tool-executor", settings.log_level)
    if args.command in (None, "serve"):
        from .app import create_app

        telemetry = setup_telemetry("tool-executor", settings.telemetry)
        run_service(create_app(settings, telemetry=telemetry).http, settings.http)
        return 0
    action: Callable[[UnitOfWorkFactory], Awaitable[Any]] = {
        ("tools", "list"): lambda uow: _list_tools(uow, args.tenant, args.json),
        ("tools", "load"): lambda uow: register_files(uow, args.directory),
        ("grants", "list"): lambda uow: _list_grants(uow, args.tenant),
        ("grants", "load"): lambda uow: grant_all(uow, args.file),
        ("mcp", "import"): lambda uow: _import(uow, settings, args.server),
        ("calls", "unknown"): lambda uow: _list_unknown(uow, args.tenant),
        ("calls", "resolve"): lambda uow: _resolve(uow, args),
    }[(args.command, args.action)]
    result = asyncio.run(_with_database(settings, action))
    if result is False:
        return 1
    if isinstance(result, int) and not isinstance(result, bool):
        print(result)
    return 0


async def _with_database(
    settings: ToolExecutorSettings, action: Callable[[UnitOfWorkFactory], Awaitable[Any]]
) -> Any:
    engine = create_engine(settings.bus.database_url)
    try:
        await upgrade(engine, [MIGRATIONS])
        return await action(unit_factory(engine))
    finally:
        await engine.dispose()


async def _list_tools(uow: UnitOfWorkFactory, tenant: str, as_json: bool) -> None:
    async with uow(tenant) as unit:
        definitions = await DefinitionRepository(unit).visible()
    if as_json:
        json.dump([d.model_dump(mode="json") for d in definitions], sys.stdout, indent=2)
        print()
        return
    for d in definitions:
        flags = ",".join(
            f for f, on in (("idempotent", d.idempotent), ("approval", d.needs_approval)) if on
        )
        scopes = ",".join(d.scopes) or "-"
        print(f"{d.name:<32} {d.version:<8} {d.side_effect.value:<6} {scopes:<24} {flags}")


async def _list_grants(uow: UnitOfWorkFactory, tenant: str) -> None:
    async with uow(tenant) as unit:
        for grant in await GrantRepository(unit).all():
            print(json.dumps(grant.model_dump()))


async def _list_unknown(uow: UnitOfWorkFactory, tenant: str) -> None:
    async with uow(tenant) as unit:
        for row in await CallRepository(unit).unresolved():
            line = {"idempotency_key": row.idempotency_key, "tool": row.tool}
            line |= {"version": row.version, "since": row.updated_at.isoformat()}
            print(json.dumps(line))


async def _resolve(uow: UnitOfWorkFactory, args: argparse.Namespace) -> bool:
    applied = args.applied is not None
    result = json.loads(args.applied) if applied else None
    async with uow(args.tenant) as unit:
        done = await CallRepository(unit).resolve(args.key, applied=applied, result=result)
        await unit.commit()
    if not done:
        print(f"no unknown call under key {args.key!r}", file=sys.stderr)
    return done


async def _import(uow: UnitOfWorkFactory, settings: ToolExecutorSettings, server: str) -> None:
    connections = McpConnections(
        settings.mcp_servers, SecretResolver(settings.secrets, settings.secrets_dir)
    )
    try:
        for definition in await import_mcp_server(uow, connections, server):
            print(f"{definition.name} {definition.version}")
    finally:
        await connections.aclose()
