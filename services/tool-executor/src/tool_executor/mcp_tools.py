"""Tools on MCP servers (official `mcp` SDK, stdio or streamable HTTP): import and call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent
from mcp.types import Tool as McpTool
from pydantic import ValidationError

from .domain import Implementation, SideEffect, ToolDefinition, ToolError
from .secrets import SecretResolver
from .settings import McpServer
from .tools import ToolCall

__all__ = ["McpConnections", "McpToolRunner", "definitions_from"]

log = logging.getLogger("tool_executor.mcp")


class McpConnections:
    """One long-lived client session per configured MCP server, opened on first use."""

    def __init__(self, servers: dict[str, McpServer], secrets: SecretResolver) -> None:
        self.servers = servers
        self.secrets = secrets
        self._clients: dict[str, Client] = {}
        self._holders: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    def _server(self, name: str) -> McpServer:
        try:
            return self.servers[name]
        except KeyError:
            raise ToolError(
                "tool.mcp_unknown_server", f"MCP server {name!r} is not configured"
            ) from None

    @contextlib.asynccontextmanager
    async def _open(self, name: str) -> AsyncIterator[Client]:
        server = self._server(name)
        if server.transport == "stdio":
            if not server.command:
                raise ToolError("tool.mcp_misconfigured", f"MCP server {name!r} has no command")
            env = {k: self._value(v) for k, v in server.env.items()}
            params = StdioServerParameters(
                command=server.command, args=server.args, env=env or None, cwd=server.cwd
            )
            async with Client(params, mode="legacy") as client:
                yield client
            return
        if not server.url:
            raise ToolError("tool.mcp_misconfigured", f"MCP server {name!r} has no url")
        headers = {k: self.secrets.render(v) for k, v in server.headers.items()}
        async with (
            httpx2.AsyncClient(headers=headers, trust_env=False) as http,
            Client(streamable_http_client(server.url, http_client=http)) as client,
        ):
            yield client

    def secrets_of(self, name: str) -> dict[str, str]:
        """Name -> value of the secrets a server's environment and headers reference."""
        server = self._server(name)
        env = [
            f"{{secret:{v[len('secret:') :]}}}"
            for v in server.env.values()
            if v.startswith("secret:")
        ]
        return self.secrets.used_by({"env": env, "headers": server.headers})

    def _value(self, raw: str) -> str:
        return self.secrets.get(raw.removeprefix("secret:")) if raw.startswith("secret:") else raw

    async def client(self, name: str) -> Client:
        """The open session to `name`, connecting (or reconnecting) when needed."""
        async with self._lock:
            holder = self._holders.get(name)
            if holder is not None and not holder.done() and name in self._clients:
                return self._clients[name]
            ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            stop = asyncio.Event()
            # The SDK's context must be entered and left by one task, so a holder task keeps
            # the session open while callers from any task send requests through it.
            self._holders[name] = asyncio.create_task(self._hold(name, ready, stop))
            self._stops[name] = stop
            self._clients[name] = await ready
            return self._clients[name]

    async def _hold(self, name: str, ready: asyncio.Future[Client], stop: asyncio.Event) -> None:
        try:
            async with self._open(name) as client:
                ready.set_result(client)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(
                    exc
                    if isinstance(exc, ToolError)
                    else ToolError(
                        "tool.mcp_unreachable",
                        f"MCP server {name!r}: {type(exc).__name__}",
                        retryable=True,
                    )
                )
            else:
                log.warning("MCP session closed", extra={"fields": {"server": name}})
            self._clients.pop(name, None)
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def list_tools(self, name: str) -> list[McpTool]:
        """Every tool the server lists (all pages)."""
        client = await self.client(name)
        tools: list[McpTool] = []
        cursor: str | None = None
        for _page in range(100):
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def aclose(self) -> None:
        """Close every session (ends stdio server processes)."""
        for stop in self._stops.values():
            stop.set()
        for task in self._holders.values():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout=10)
        self._holders.clear()
        self._clients.clear()


class McpToolRunner:
    """Runs a registered MCP-backed tool through its server's session."""

    def __init__(self, connections: McpConnections) -> None:
        self.connections = connections

    async def run(self, call: ToolCall) -> Any:
        implementation = call.definition.implementation
        server = implementation.server or ""
        client = await self.connections.client(server)
        try:
            result: CallToolResult = await client.call_tool(
                implementation.name, call.arguments, read_timeout_seconds=call.definition.timeout_s
            )
        except TimeoutError as exc:
            raise ToolError(
                "tool.timeout", "MCP call timed out", retryable=True, maybe_applied=True
            ) from exc
        except (OSError, httpx2.TransportError) as exc:
            # The request may have reached the server before the connection failed.
            raise ToolError(
                "tool.mcp_unreachable",
                f"MCP server {server!r} unreachable",
                retryable=True,
                maybe_applied=True,
            ) from exc
        if result.is_error:
            raise ToolError("tool.mcp_error", f"MCP tool {implementation.name!r} reported an error")
        if result.structured_content is not None:
            value: Any = result.structured_content
        else:
            value = {"content": [b.text for b in result.content if isinstance(b, TextContent)]}
        # A server may echo the credentials it was started with: never let one out.
        return call.secrets.scrub(value, self.connections.secrets_of(server))


def definitions_from(
    server_name: str, server: McpServer, tools: list[McpTool]
) -> list[ToolDefinition]:
    """Registry definitions for the tools an MCP server lists, with their schemas."""
    prefix = server.name_prefix if server.name_prefix is not None else f"mcp.{server_name}."
    scopes = server.scopes if server.scopes is not None else [f"mcp:{server_name}"]
    definitions = []
    for tool in tools:
        hints = tool.annotations
        read_only = bool(hints and hints.read_only_hint)
        try:
            definition = ToolDefinition(
                name=f"{prefix}{tool.name}",
                version=server.version,
                description=tool.description or "",
                # MCP's default is destructive: without a read-only hint, assume it writes.
                side_effect=SideEffect.READ if read_only else SideEffect.WRITE,
                scopes=list(scopes),
                idempotent=bool(hints and (read_only or hints.idempotent_hint)),
                needs_approval=tool.name in server.needs_approval,
                arguments_schema=tool.input_schema,
                result_schema=tool.output_schema,
                implementation=Implementation(kind="mcp", name=tool.name, server=server_name),
            )
        except ValidationError as exc:
            log.warning("MCP tool skipped", extra={"fields": {"tool": tool.name, "why": str(exc)}})
            continue
        definitions.append(definition)
    return definitions
