"""The port every tool implementation satisfies, and what one call hands it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .domain import ToolDefinition
from .egress import EgressPolicy
from .secrets import SecretResolver

__all__ = ["Tool", "ToolCall"]


@dataclass(frozen=True)
class ToolCall:
    """One invocation: validated arguments plus what the executor decided around them."""

    definition: ToolDefinition
    arguments: dict[str, Any]
    tenant_id: str
    idempotency_key: str
    secrets: SecretResolver
    egress: EgressPolicy = field(default_factory=lambda: EgressPolicy(hosts=()))

    @property
    def config(self) -> dict[str, Any]:
        """The definition's fixed configuration."""
        return self.definition.implementation.config


class Tool(Protocol):
    """A tool implementation: built-in, plug-in (entry point) or MCP-backed.

    Return a JSON value; raise `ToolError` with `retryable=True` for transient causes.
    An implementation that hands `call.idempotency_key` to the remote side (so the remote
    side runs one effect per key) sets the class attribute `forwards_idempotency_key = True`;
    without it, a non-idempotent write runs at most once (ADR 0300).
    """

    async def run(self, call: ToolCall) -> Any: ...
