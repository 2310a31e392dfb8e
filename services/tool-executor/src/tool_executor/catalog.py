"""Registry operations shared by start-up, the CLI and the API: load, import, grant."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

from agentbus.storage import UnitOfWorkFactory

from .domain import SHARED_TENANT, Grant, ToolDefinition
from .files import load_definitions, load_grants
from .mcp_tools import McpConnections, definitions_from
from .repositories import DefinitionRepository, GrantRepository
from .schemas import SchemaProblemError, check_schema

__all__ = ["grant_all", "import_mcp_server", "register_all", "register_files"]

log = logging.getLogger("tool_executor.catalog")

T = TypeVar("T")
_ATTEMPTS = 3


async def _despite_other_replicas(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` (one transaction) again when a replica starting with us wrote first.

    Replicas load the same files at start-up: both find a row missing, both insert it,
    and the second fails on the key (PostgreSQL) or on its stale snapshot (SQLite). Its
    transaction is rolled back, and running it again finds the other replica's rows.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return await work()
        except (IntegrityError, OperationalError):
            if attempt == _ATTEMPTS:
                raise
            log.info("registry written by another replica meanwhile; reading it again")
    raise AssertionError("unreachable")


async def register_all(
    uow: UnitOfWorkFactory,
    definitions: list[ToolDefinition],
    *,
    tenant: str = SHARED_TENANT,
    source: str = "file",
) -> int:
    """Register every definition in one transaction; returns how many were new."""

    async def register() -> int:
        async with uow(tenant) as unit:
            repo = DefinitionRepository(unit)
            added = sum([await repo.register(d, source=source) for d in definitions])
            await unit.commit()
        return added

    return await _despite_other_replicas(register)


async def register_files(uow: UnitOfWorkFactory, directory: Path) -> int:
    """Register the YAML definitions under `directory` as shared tools."""
    added = await register_all(uow, load_definitions(directory), source=f"file:{directory.name}")
    log.info("tool definitions loaded", extra={"fields": {"dir": str(directory), "new": added}})
    return added


async def grant_all(uow: UnitOfWorkFactory, grants_file: Path) -> int:
    """Put every grant of a grants file (each tenant in its own transaction)."""
    total = 0
    for tenant, grants in load_grants(grants_file).items():

        async def put(tenant: str = tenant, grants: list[Grant] = grants) -> None:
            async with uow(tenant) as unit:
                repo = GrantRepository(unit)
                for grant in grants:
                    await repo.put(grant)
                await unit.commit()

        await _despite_other_replicas(put)
        total += len(grants)
    return total


async def import_mcp_server(
    uow: UnitOfWorkFactory, connections: McpConnections, server_name: str
) -> list[ToolDefinition]:
    """List an MCP server's tools and register them (schemas included) like any other."""
    server = connections.servers[server_name]
    tools = await connections.list_tools(server_name)
    definitions = []
    for definition in _valid(definitions_from(server_name, server, tools)):
        definitions.append(definition)
    await register_all(uow, definitions, tenant=server.tenant, source=f"mcp:{server_name}")
    log.info(
        "MCP tools imported",
        extra={"fields": {"server": server_name, "tools": [d.name for d in definitions]}},
    )
    return definitions


def _valid(definitions: list[ToolDefinition]) -> list[ToolDefinition]:
    kept = []
    for definition in definitions:
        try:
            check_schema(definition.arguments_schema)
            if definition.result_schema is not None:
                check_schema(definition.result_schema)
        except SchemaProblemError as exc:
            log.warning(
                "MCP tool skipped", extra={"fields": {"tool": definition.name, "why": str(exc)}}
            )
            continue
        kept.append(definition)
    return kept
