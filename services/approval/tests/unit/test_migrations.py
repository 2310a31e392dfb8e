"""The Alembic revisions create exactly the tables the code declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from approval.app import MIGRATIONS
from approval.tables import approval_metadata
from sqlalchemy import create_engine

from agentbus.storage.migrations import upgrade


def _ours(diff: Any) -> bool:
    text = repr(diff)
    return "approval_" in text


async def test_migrations_match_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'approval.db'}"
    await upgrade(url, [MIGRATIONS])
    await upgrade(url, [MIGRATIONS])  # a second start finds nothing to do
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), approval_metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if _ours(d)] == []
    assert {t for t in approval_metadata.tables} == {
        "approval_requests",
        "approval_votes",
        "approval_delegations",
        "approval_webhooks",
    }
