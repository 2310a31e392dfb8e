"""Async SQLAlchemy engines for SQLite (default) and PostgreSQL, chosen by URL."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from .jsoncodec import dump_json
from .sqlite_driver import configure, loop_connector

__all__ = ["create_engine", "is_postgres", "to_async_url"]

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


def to_async_url(url: str) -> str:
    """Map `sqlite:///x.db` / `postgresql://...` to the async driver of that database."""
    parsed = make_url(url)
    backend = "postgresql" if parsed.get_backend_name() in {"postgres", "postgresql"} else None
    backend = backend or parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def is_postgres(engine: AsyncEngine | Engine | Connection) -> bool:
    """True when `engine` (or a session's bind) talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def create_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so readers never block writers."""
    async_url = to_async_url(url)
    if async_url.startswith("sqlite"):
        database = make_url(async_url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            # Statements on the event loop, lock waits asynchronous (ADR 0014).
            connect = loop_connector(os.path.abspath(database), lock_timeout_s=30)
            return create_async_engine(
                async_url, echo=echo, async_creator=connect, json_serializer=dump_json
            )
        engine = create_async_engine(
            async_url, echo=echo, connect_args={"timeout": 30}, json_serializer=dump_json
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        async_url,
        echo=echo,
        pool_size=pool_size,
        pool_pre_ping=True,
        json_serializer=dump_json,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """In-memory and URI databases: plain aiosqlite, waiting for locks on its thread."""
    configure(dbapi_connection, busy_timeout_ms=30_000)
