"""A real MCP server over stdio for the tests: `add` (read-only) and `append_note` (writes).

Run as `python mcp_calc_server.py NOTES_FILE`; `append_note` appends one line to the file,
so a test can count executions from outside the process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel

NOTES = Path(sys.argv[1])
server = MCPServer("calc")


class Sum(BaseModel):
    total: int


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def add(a: int, b: int) -> Sum:
    """Add two integers."""
    return Sum(total=a + b)


@server.tool()
def append_note(text: str) -> str:
    """Append a note to the notes file."""
    with NOTES.open("a") as notes:
        notes.write(text + "\n")
    return f"noted {len(text)} characters"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def token_echo() -> str:
    """Echo the credential the server was started with (a careless server)."""
    return f"my token is {os.environ.get('CALC_TOKEN', '')}"


if __name__ == "__main__":
    server.run("stdio")
