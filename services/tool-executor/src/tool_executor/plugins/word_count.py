"""An example plug-in tool: counts words, declared as entry point `word_count`.

A custom tool is any class with `async def run(self, call: ToolCall) -> JSON`, constructed
without arguments, published under the `agentbus.tools` entry-point group by any installed
package:

    [project.entry-points."agentbus.tools"]
    word_count = "tool_executor.plugins.word_count:WordCount"

and referenced by a definition with `implementation: {kind: plugin, name: word_count}`.
"""

from __future__ import annotations

from typing import Any

from tool_executor.tools import ToolCall

__all__ = ["WordCount"]


class WordCount:
    """`{text}` in; `{words, characters}` out."""

    async def run(self, call: ToolCall) -> Any:
        text = str(call.arguments.get("text", ""))
        return {"words": len(text.split()), "characters": len(text)}
