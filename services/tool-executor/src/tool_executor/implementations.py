"""Which code runs a definition: built-ins, entry-point plug-ins, MCP-backed tools."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from .data_tools import Arithmetic, JsonTransform
from .domain import Implementation, ToolError
from .http_tool import HttpRequestTool
from .mcp_tools import McpConnections, McpToolRunner
from .tools import Tool

__all__ = ["PLUGIN_GROUP", "Implementations"]

PLUGIN_GROUP = "agentbus.tools"


class Implementations:
    """Looks up the `Tool` for an implementation spec; plug-ins are loaded once."""

    def __init__(self, *, http: HttpRequestTool, mcp: McpConnections) -> None:
        self.http = http
        self.mcp = mcp
        self.builtins: dict[str, Tool] = {
            "http.request": http,
            "json.transform": JsonTransform(),
            "math.evaluate": Arithmetic(),
        }
        self._mcp_runner = McpToolRunner(mcp)
        self._plugins: dict[str, Tool] = {}

    def get(self, implementation: Implementation) -> Tool:
        """The tool to run; ToolError when it does not exist here."""
        if implementation.kind == "builtin":
            tool = self.builtins.get(implementation.name)
            if tool is None:
                raise ToolError(
                    "tool.unknown_implementation", f"no built-in tool {implementation.name!r}"
                )
            return tool
        if implementation.kind == "plugin":
            return self._plugin(implementation.name)
        return self._mcp_runner

    def _plugin(self, name: str) -> Tool:
        if name not in self._plugins:
            found = [ep for ep in entry_points(group=PLUGIN_GROUP) if ep.name == name]
            if not found:
                raise ToolError(
                    "tool.unknown_implementation",
                    f"no entry point {name!r} in group {PLUGIN_GROUP!r}",
                )
            factory: Any = found[0].load()
            self._plugins[name] = factory()
        return self._plugins[name]

    async def aclose(self) -> None:
        """Close HTTP pools and MCP sessions."""
        await self.http.aclose()
        await self.mcp.aclose()
