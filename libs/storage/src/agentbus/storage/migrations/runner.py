"""Upgrade a database to every head of the bus's and a service's migration branches."""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..engine import create_engine

__all__ = ["BUS_VERSIONS", "VERSION_TABLE", "alembic_config", "upgrade"]

log = logging.getLogger("agentbus.storage.migrations")

HERE = Path(__file__).resolve().parent
BUS_VERSIONS = HERE / "versions"
VERSION_TABLE = "agentbus_schema_version"
# One key for every agentbus database; PostgreSQL scopes advisory locks to the database.
_LOCK_KEY = zlib.crc32(b"agentbus.storage.migrations")
# Alembic's `context` and `op` are module-wide proxies: one upgrade at a time per process.
_PROCESS_LOCKS: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def alembic_config(version_locations: Sequence[Path], connection: Connection | None) -> Config:
    """An Alembic config built in code: the bus's versions plus `version_locations`."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    locations = [BUS_VERSIONS, *(Path(p).resolve() for p in version_locations)]
    unique = list(dict.fromkeys(str(p) for p in locations))
    config.set_main_option("version_locations", os.pathsep.join(unique))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine_or_url: AsyncEngine | str, version_locations: Sequence[Path] = ()) -> None:
    """Bring the database to all heads; concurrent callers wait for one another."""
    engine = create_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    lock = _PROCESS_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    try:
        async with lock, engine.connect() as conn:
            await conn.run_sync(_upgrade_locked, list(version_locations))
            await conn.commit()
    finally:
        if isinstance(engine_or_url, str):
            await engine.dispose()


def _upgrade_locked(connection: Connection, version_locations: list[Path]) -> None:
    # The lock is taken in the transaction the migrations then run in, and is released
    # by its commit: a replica starting at the same time waits, then finds nothing to do.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # A write transaction at once (not at the first write), waiting on busy_timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    config = alembic_config(version_locations, connection)
    unknown = _unknown_heads(connection, ScriptDirectory.from_config(config))
    if unknown:
        # A newer release of this service already migrated the database (rolling upgrade):
        # its schema is a superset, so an older replica runs rather than crash-loops.
        log.warning(
            "database schema is newer than this code; not migrating",
            extra={"fields": {"unknown_revisions": sorted(unknown)}},
        )
        return
    command.upgrade(config, "heads")


def _unknown_heads(connection: Connection, script: ScriptDirectory) -> set[str]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    unknown = set()
    for head in context.get_current_heads():
        try:
            script.get_revision(head)
        except CommandError:
            unknown.add(head)
    return unknown
