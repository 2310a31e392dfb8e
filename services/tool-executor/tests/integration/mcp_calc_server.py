"""A real MCP server over stdio for the tests: `add` (read-only) and `append_note` (writes).

Run as `python mcp_calc_server.py NOTES_FILE`; `append_note` appends one line to the file,
so a test can count executions from outside the process. `append_note` with `hold_s`
answers only that long after its effect, leaving a window to kill the executor in.
"""

from __future__ import annotations

import asyncio
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
async def append_note(text: str, hold_s: float = 0) -> str:
    """Append a note to the notes file (then wait `hold_s` seconds before answering)."""
    _append(text)
    await asyncio.sleep(hold_s)
    return f"noted {len(text)} characters"


def _append(text: str) -> None:
    with NOTES.open("a") as notes:
        notes.write(text + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def token_echo() -> str:
    """Echo the credential the server was started with (a careless server)."""
    return f"my token is {os.environ.get('CALC_TOKEN', '')}"


if __name__ == "__main__":
    server.run("stdio")
