"""Requests' SQLite statements run off the event loop; a consumer's run on it (ADR 0014)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from agentbus.http import create_http_app
from agentbus.http.authenticator import Authenticator
from agentbus.http.keys import ApiKeyStore
from agentbus.http.testing import serving
from agentbus.storage import create_engine


async def test_a_requests_statements_run_on_a_connection_thread_not_the_loop(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    loop_thread = threading.get_ident()

    async def statement_thread() -> int:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            raw.driver_connection._conn.create_function("thread_id", 0, threading.get_ident)
            found: int = (await conn.execute(text("SELECT thread_id()"))).scalar_one()
            return found

    app: FastAPI = create_http_app(
        title="t", version="0", authenticator=Authenticator(ApiKeyStore([]))
    )

    @app.get("/thread")
    async def thread() -> dict[str, int]:
        return {"thread": await statement_thread()}

    try:
        assert await statement_thread() == loop_thread  # outside a request: on the loop
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/thread")
            assert response.status_code == 200
            assert response.json()["thread"] != loop_thread
        assert await statement_thread() == loop_thread
    finally:
        await engine.dispose()
