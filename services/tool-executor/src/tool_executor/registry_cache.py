"""Definitions and grants the executor resolved, reused for a second (hot path per call)."""

from __future__ import annotations

import time
from typing import Any

from agentbus.storage import UnitOfWork

from .domain import Grant, ToolDefinition
from .repositories import DefinitionRepository, GrantRepository

__all__ = ["RegistryCache"]


class RegistryCache:
    """Found definitions and grants per tenant, kept for `ttl_s`; misses are never kept.

    Every call otherwise reads the registry twice. A grant revoked or a version added
    through this process's API clears the cache at once; through another process (the
    CLI, another replica) it takes effect within `ttl_s`. A missing grant or tool is read
    again every time, so a new grant is never waited for.
    """

    def __init__(self, ttl_s: float, max_entries: int = 8192) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}

    def clear(self) -> None:
        """Forget everything (the registry or a grant changed)."""
        self._entries.clear()

    async def definition(
        self, uow: UnitOfWork, name: str, version: str | None
    ) -> ToolDefinition | None:
        """The pinned version, or the latest one, that the tenant sees."""
        key = ("definition", uow.tenant_id, name, version or "")
        found = self._get(key)
        if found is None:
            found = await DefinitionRepository(uow).resolve(name, version)
            self._put(key, found)
        return found  # type: ignore[no-any-return]

    async def grant(self, uow: UnitOfWork, tool: str) -> Grant | None:
        """The tenant's grant for `tool`, or None (deny)."""
        key = ("grant", uow.tenant_id, tool)
        found = self._get(key)
        if found is None:
            found = await GrantRepository(uow).grant_for(tool)
            self._put(key, found)
        return found  # type: ignore[no-any-return]

    def _get(self, key: tuple[str, ...]) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def _put(self, key: tuple[str, ...], value: Any) -> None:
        if value is None or self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl_s, value)
