"""Committed run states kept in memory by the process that last changed them.

A run's events are keyed by its id, so they reach the replica that owns its partition:
that replica mostly finds the state here instead of reading and parsing the row. A
stale entry (another replica wrote since) is harmless: every write is checked against
the revision read, fails, and the run is read again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from .state import RunState

__all__ = ["CachedRun", "RunCache"]


class CachedRun(NamedTuple):
    """A run's state as committed at `revision`; never mutated (the machine copies it)."""

    revision: int
    state: RunState


class RunCache:
    """Least-recently-used committed states by (tenant, run id)."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], CachedRun] = OrderedDict()

    def get(self, tenant_id: str, run_id: str) -> CachedRun | None:
        """The committed state, if this process holds it."""
        key = (tenant_id, run_id)
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, tenant_id: str, run_id: str, run: CachedRun) -> None:
        """Remember a state that has just been committed (or read)."""
        if self.size <= 0:
            return
        key = (tenant_id, run_id)
        self._items[key] = run
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def forget(self, tenant_id: str, run_id: str) -> None:
        """Drop a state that may be stale."""
        self._items.pop((tenant_id, run_id), None)
