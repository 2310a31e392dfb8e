"""Engine settings that durability depends on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from agentbus.storage import create_engine

pytestmark = pytest.mark.integration


async def test_sqlite_commits_are_synced_in_wal_mode(sqlite_url: str):
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            synchronous = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
    finally:
        await engine.dispose()
    assert journal == "wal"
    assert synchronous == 2, "FULL (2): the WAL is synced at every commit"


async def test_postgres_keeps_synchronous_commit_on(postgres_url: str):
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            setting = (await conn.execute(text("SHOW synchronous_commit"))).scalar_one()
            fsync = (await conn.execute(text("SHOW fsync"))).scalar_one()
    finally:
        await engine.dispose()
    assert setting in {"on", "remote_write", "remote_apply"}
    assert fsync == "on"


async def test_a_sqlite_file_in_a_missing_folder_gets_its_folder(tmp_path: Path):
    # Every service's default database is ./var/<service>.db; a fresh clone has no ./var.
    database = tmp_path / "var" / "nested" / "service.db"
    engine = create_engine(f"sqlite:///{database}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        await engine.dispose()
    assert database.is_file()
