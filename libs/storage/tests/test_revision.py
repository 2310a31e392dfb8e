"""Autogenerating a service's revisions from its metadata, then applying them."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, inspect

from agentbus.storage import create_engine
from agentbus.storage.migrations import upgrade
from agentbus.storage.migrations.__main__ import main
from agentbus.storage.migrations.revision import make_revision

pytestmark = pytest.mark.integration


def widgets(metadata: MetaData, *extra: Column[str]) -> Table:
    return Table(
        "rev_widgets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("tenant_id", String(255), nullable=False, index=True),
        *extra,
    )


async def columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            cols = await conn.run_sync(lambda c: inspect(c).get_columns("rev_widgets"))
    finally:
        await engine.dispose()
    return {c["name"] for c in cols}


async def test_first_and_next_revisions_are_generated_and_apply(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    versions = tmp_path / "versions"
    first = MetaData()
    widgets(first)
    store = types.ModuleType("rev_service_store")
    store.metadata = first  # a service's store module, as the CLI imports it
    monkeypatch.setitem(sys.modules, "rev_service_store", store)
    argv = ["revision", "--metadata", "rev_service_store:metadata"]
    main([*argv, "--versions", str(versions), "--branch", "rev-svc", "-m", "widgets"])
    [initial] = sorted(versions.glob("*.py"))
    assert initial.name == "rev_svc_0001_widgets.py"
    text = initial.read_text()
    assert "branch_labels: str | Sequence[str] | None = ('rev-svc',)" in text
    assert "down_revision: str | Sequence[str] | None = None" in text
    assert "agentbus_inbox" not in text, "the bus's tables belong to its own branch"

    await upgrade(database_url, [versions])
    assert await columns(database_url) == {"id", "tenant_id"}

    second = MetaData()
    widgets(second, Column("name", String(80), nullable=True))
    path = make_revision(second, versions, branch="rev-svc", message="widget name")
    assert path is not None
    assert path.name == "rev_svc_0002_widget_name.py"
    assert "down_revision: str | Sequence[str] | None = 'rev_svc_0001'" in path.read_text()
    await upgrade(database_url, [versions])
    assert await columns(database_url) == {"id", "tenant_id", "name"}
