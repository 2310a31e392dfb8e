"""The `approval` CLI against the real HTTP API: list, show, approve, reject's error.

The same commands are `agentbus approvals ...` (an entry point of the agentbus CLI).
"""

from __future__ import annotations

import asyncio

import pytest
import typer
from approval.cli import cli
from typer.testing import CliRunner

from agentbus.bus.cli import app as agentbus

from .harness import approval_request, key_of, running


@pytest.mark.parametrize(
    ("command", "prefix"), [(cli, []), (agentbus, ["approvals"])], ids=["approval", "agentbus"]
)
async def test_cli_lists_shows_and_approves(
    kafka_bootstrap: str, sqlite_url: str, command: typer.Typer, prefix: list[str]
) -> None:
    async with running(kafka_bootstrap, sqlite_url) as h:
        request = approval_request()
        await h.send(request)
        approval = await h.approval_for(request.id)
        runner = CliRunner()

        def invoke(*args: str, who: str = "bob") -> tuple[int, str]:
            result = runner.invoke(
                command, [*prefix, *args, "--url", h.url, "--api-key", key_of(who)]
            )
            return result.exit_code, result.output

        # The CLI is synchronous: run it off the loop that serves the API.
        code, out = await asyncio.to_thread(invoke, "pending")
        assert code == 0, out
        assert approval["id"] in out
        assert "Pay invoice 42" in out
        # Filters: the role that may approve it, and how long it has waited.
        code, out = await asyncio.to_thread(invoke, "pending", "--role", "finance")
        assert code == 0, out
        assert approval["id"] in out
        for narrower in (["--role", "legal & compliance"], ["--min-age", "3600"]):
            code, out = await asyncio.to_thread(invoke, "pending", *narrower)
            assert code == 0, out
            assert approval["id"] not in out
        code, out = await asyncio.to_thread(invoke, "show", approval["id"])
        assert code == 0, out
        assert '"payload_sha256"' in out
        code, out = await asyncio.to_thread(invoke, "approve", approval["id"], who="alice")
        assert code == 1, out
        assert "approval.self_approval" in out
        code, out = await asyncio.to_thread(invoke, "approve", approval["id"])
        assert code == 0, out
        assert f"{approval['id']}: approved" in out
