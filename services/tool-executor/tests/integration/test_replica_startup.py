"""Two replicas starting together load the same tool files and grants; both start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tool_executor.catalog import grant_all, register_files
from tool_executor.files import BUNDLED_TOOLS, load_definitions
from tool_executor.repositories import DefinitionRepository, GrantRepository
from tool_executor.store import MIGRATIONS

from agentbus.bus import unit_factory
from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade

pytestmark = pytest.mark.integration

GRANTS = """
tenants:
  acme:
    - {tool: json.transform}
    - {tool: http.request, hosts: [api.example.com]}
"""


async def test_replicas_registering_the_same_files_at_once_both_succeed(
    database_url: str, tmp_path: Path
) -> None:
    grants = tmp_path / "grants.yaml"
    grants.write_text(GRANTS)
    engines = [create_engine(database_url) for _ in range(2)]
    try:
        await upgrade(engines[0], [MIGRATIONS])
        replicas = [unit_factory(engine) for engine in engines]
        # Each checks for the rows, finds none and inserts them: the later one to commit
        # failed on the key (PostgreSQL) or its snapshot (SQLite), and its replica exited.
        added = await asyncio.gather(*(register_files(uow, BUNDLED_TOOLS) for uow in replicas))
        assert sorted(added) == [0, len(load_definitions(BUNDLED_TOOLS))]
        assert await asyncio.gather(*(grant_all(uow, grants) for uow in replicas)) == [2, 2]
        async with replicas[0]("acme") as unit:
            assert [g.tool for g in await GrantRepository(unit).all()] == [
                "http.request",
                "json.transform",
            ]
            assert await DefinitionRepository(unit).resolve("json.transform", None) is not None
    finally:
        for engine in engines:
            await engine.dispose()
