"""pytest plugin: a real Kafka broker and real databases for agentbus tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .broker import kafka_bootstrap_servers, repo_root
from .kafka import delete_created_topics

__all__ = ["database_url", "kafka_bootstrap", "postgres_admin_url", "sqlite_url"]


@pytest.fixture(scope="session")
def agentbus_root(request: pytest.FixtureRequest) -> Path:
    """The repository checkout under test."""
    return repo_root(Path(request.config.rootpath))


@pytest.fixture(scope="session")
def kafka_bootstrap(agentbus_root: Path) -> Iterator[str]:
    """Bootstrap servers of a real broker for the whole session; its test topics go after."""
    with kafka_bootstrap_servers(agentbus_root) as address:
        yield address
        asyncio.run(delete_created_topics(address))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file for one test."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def postgres_admin_url(agentbus_root: Path) -> str:
    """URL of a running PostgreSQL: $AGENTBUS_TEST_POSTGRES_URL or the project's own."""
    configured = os.environ.get("AGENTBUS_TEST_POSTGRES_URL")
    if configured:
        return configured
    script = agentbus_root / "infra" / "postgres" / "pg.sh"
    subprocess.run([str(script), "up"], check=True, stdout=subprocess.DEVNULL)
    return subprocess.run(
        [str(script), "url"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine.url import make_url

    admin = make_url(postgres_admin_url).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url
