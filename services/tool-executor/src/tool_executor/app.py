"""The composition root: settings in, a bus plus an HTTP app out; `main` is the console script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from agentbus.bus import Bus
from agentbus.http import service_http_app
from agentbus.storage.migrations import upgrade
from agentbus.telemetry import Telemetry

from .api import api_router
from .catalog import grant_all, import_mcp_server, register_files
from .consumers import subscribe
from .egress import Resolver
from .executor import Executor
from .files import BUNDLED_TOOLS
from .handlers import ExecuteTool
from .http_tool import HttpRequestTool
from .implementations import Implementations
from .mcp_tools import McpConnections
from .secrets import SecretResolver
from .settings import ToolExecutorSettings
from .store import MIGRATIONS

__all__ = ["SERVICE", "ToolExecutor", "create_app", "main"]

SERVICE = "tool-executor"


@dataclass
class ToolExecutor:
    """Everything one tool-executor process runs."""

    settings: ToolExecutorSettings
    bus: Bus
    http: FastAPI
    execute: ExecuteTool
    implementations: Implementations

    async def prepare_registry(self) -> None:
        """Migrate, then load definitions, grants and (if asked) MCP tools before consuming."""
        await upgrade(self.bus.engine, [MIGRATIONS])
        if self.settings.load_bundled_tools:
            await register_files(self.bus.uow, BUNDLED_TOOLS)
        if self.settings.tools_dir is not None:
            await register_files(self.bus.uow, self.settings.tools_dir)
        if self.settings.grants_file is not None:
            await grant_all(self.bus.uow, self.settings.grants_file)
        if self.settings.import_mcp_on_start:
            for name in self.settings.mcp_servers:
                await import_mcp_server(self.bus.uow, self.implementations.mcp, name)
        self.execute.registry.clear()

    async def start(self) -> None:
        """Registry first, so the first request already finds its tool; then the bus."""
        await self.prepare_registry()
        await self.bus.start()

    async def stop(self) -> None:
        """Stop consuming (in-flight calls settle), then close HTTP pools and MCP sessions."""
        await self.bus.stop()
        await self.implementations.aclose()


def create_app(
    settings: ToolExecutorSettings,
    *,
    telemetry: Telemetry | None = None,
    resolver: Resolver | None = None,
) -> ToolExecutor:
    """Wire the service; nothing connects until `start` (or the HTTP app's lifespan)."""
    bus = Bus(settings.bus, service=SERVICE, telemetry=telemetry, migrations=[MIGRATIONS])
    secrets = SecretResolver(settings.secrets, settings.secrets_dir)
    implementations = Implementations(
        http=HttpRequestTool(
            max_response_bytes=settings.limits.max_response_bytes,
            max_redirects=settings.limits.max_redirects,
            resolver=resolver,
            max_connections=settings.limits.http_max_connections,
            dns_cache_s=settings.limits.dns_cache_s,
        ),
        mcp=McpConnections(settings.mcp_servers, secrets),
    )
    executor = Executor(implementations, settings.call_retry, settings.limits)
    execute = ExecuteTool(executor, secrets, settings.limits, service=SERVICE)
    subscribe(bus, execute, settings.topics)
    service: ToolExecutor

    http = service_http_app(
        title="agentbus tool-executor",
        version="0.1.0",
        settings=settings.http,
        bus=bus,
        # Late-bound: the service object is built with this app, just below.
        start=lambda: service.start(),
        stop=lambda: service.stop(),
        telemetry=telemetry,
    )
    http.include_router(api_router(bus.uow, on_change=execute.registry.clear))
    service = ToolExecutor(settings, bus, http, execute, implementations)
    return service


def main(argv: list[str] | None = None) -> Any:
    """Console script `tool-executor`: serve (default) or an admin command (see --help)."""
    from .cli import run

    return run(argv)
