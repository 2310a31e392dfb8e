"""A tool from a real MCP server (stdio, started by the test) is imported with its schemas,
denied without a grant, and executed with one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from tool_executor.app import create_app
from tool_executor.catalog import import_mcp_server
from tool_executor.domain import Grant, SideEffect
from tool_executor.repositories import DefinitionRepository, GrantRepository
from tool_executor.settings import McpServer

from agentbus.http.testing import serving
from contracts.events.tool import ToolStatus

pytestmark = pytest.mark.integration

SERVER = Path(__file__).parent / "mcp_calc_server.py"


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url")
    return url


async def test_mcp_stdio_tools_are_imported_and_governed(
    database_url: str, tmp_path: Path, settings_for: Any, harness: Any
) -> None:
    notes = tmp_path / "notes.txt"
    settings = settings_for(
        database_url,
        mcp_servers={
            "calc": McpServer(
                command=sys.executable,
                args=[str(SERVER), str(notes)],
                env={"CALC_TOKEN": "secret:crm_token"},
            )
        },
    )
    service = create_app(settings)
    await service.prepare_registry()
    try:
        imported = await import_mcp_server(service.bus.uow, service.implementations.mcp, "calc")
        by_name = {d.name: d for d in imported}
        assert set(by_name) == {"mcp.calc.add", "mcp.calc.append_note", "mcp.calc.token_echo"}
        add = by_name["mcp.calc.add"]
        assert add.side_effect is SideEffect.READ
        assert add.arguments_schema["required"] == ["a", "b"]
        assert add.result_schema is not None
        assert by_name["mcp.calc.append_note"].side_effect is SideEffect.WRITE
        assert add.scopes == ["mcp:calc"]
        async with service.bus.uow("acme") as uow:
            registered = {d.name for d in await DefinitionRepository(uow).visible()}
        assert {"mcp.calc.add", "mcp.calc.append_note"} <= registered

        run = harness.__class__(service, harness.resolver).run
        request = harness.request
        denied, audit = await run(
            request("mcp.calc.append_note", {"text": "hi"}, scopes=["mcp:calc"])
        )
        assert denied.status is ToolStatus.DENIED
        assert "no grant for tool 'mcp.calc.append_note'" in denied.error.message
        assert audit.details["decision"] == "denied"
        assert not notes.exists()

        async with service.bus.uow("acme") as uow:
            for tool in ("mcp.calc.add", "mcp.calc.append_note"):
                await GrantRepository(uow).put(Grant(tool=tool, scopes=["mcp:calc"]))
            await uow.commit()
        total, _ = await run(request("mcp.calc.add", {"a": 2, "b": 40}, scopes=["mcp:calc"]))
        assert total.status is ToolStatus.SUCCEEDED
        assert total.result == {"total": 42}
        noted, _ = await run(
            request("mcp.calc.append_note", {"text": "hello"}, scopes=["mcp:calc"])
        )
        assert noted.status is ToolStatus.SUCCEEDED
        assert notes.read_text() == "hello\n"
        async with service.bus.uow("acme") as uow:
            await GrantRepository(uow).put(Grant(tool="mcp.calc.token_echo", scopes=["mcp:calc"]))
            await uow.commit()
        echoed, _ = await run(request("mcp.calc.token_echo", {}, scopes=["mcp:calc"]))
        assert echoed.status is ToolStatus.SUCCEEDED
        assert echoed.result == {"result": "my token is [secret:crm_token]"}
        assert harness.canary not in str(echoed.result)
        bad, _ = await run(request("mcp.calc.add", {"a": "two"}, scopes=["mcp:calc"]))
        assert bad.status is ToolStatus.FAILED
        assert bad.error.code == "tool.invalid_arguments"
        assert "'a'" in bad.error.message or "'b'" in bad.error.message
    finally:
        await service.implementations.aclose()
        await service.bus.engine.dispose()


async def test_mcp_streamable_http_tools_are_imported_and_called(
    database_url: str, settings_for: Any, harness: Any
) -> None:
    from mcp.server.mcpserver import MCPServer

    remote = MCPServer("inventory")
    calls: list[str] = []

    @remote.tool()
    def stock(sku: str) -> dict[str, int]:
        """Units in stock for a SKU."""
        calls.append(sku)
        return {"units": len(sku)}

    async with serving(remote.streamable_http_app()) as url:
        settings = settings_for(
            database_url,
            mcp_servers={"inv": McpServer(transport="http", url=f"{url}/mcp", tenant="acme")},
        )
        service = create_app(settings)
        await service.prepare_registry()
        try:
            imported = await import_mcp_server(service.bus.uow, service.implementations.mcp, "inv")
            assert [d.name for d in imported] == ["mcp.inv.stock"]
            owner = harness.__class__(service, harness.resolver)
            request = harness.request("mcp.inv.stock", {"sku": "abc"}, scopes=["mcp:inv"])
            denied, _ = await owner.run(request)
            assert denied.status is ToolStatus.DENIED
            assert calls == []
            await owner.grant("acme", Grant(tool="mcp.inv.stock", scopes=["mcp:inv"]))
            stocked, _ = await owner.run(
                harness.request("mcp.inv.stock", {"sku": "abcd"}, scopes=["mcp:inv"])
            )
            assert stocked.status is ToolStatus.SUCCEEDED
            assert stocked.result == {"units": 4}
            assert calls == ["abcd"]
            # Imported for tenant acme only: another tenant does not see it at all.
            other, _ = await owner.run(
                harness.request("mcp.inv.stock", {"sku": "x"}, scopes=["mcp:inv"], tenant="b")
            )
            assert other.error.code == "tool.unknown"
        finally:
            await service.implementations.aclose()
            await service.bus.engine.dispose()
