"""HTTP API: authenticated, tenant-scoped (another tenant's tool is a 404), JSON errors,
grant changes by admins only and audited through the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import select
from tool_executor.app import create_app

from agentbus.http import ApiKeyEntry, HttpSettings
from agentbus.storage import OutboxEntry
from contracts.envelope import decode

pytestmark = pytest.mark.integration

KEYS = {
    "acme-admin": ("acme", ["tool-admin"]),
    "acme-agent": ("acme", []),
    "other-admin": ("other", ["tool-admin"]),
}


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    # The store runs on both databases in test_execution; routing needs only one.
    url: str = request.getfixturevalue("sqlite_url")
    return url


@pytest.fixture
async def client(
    database_url: str, settings_for: Any, harness: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    entries = [
        ApiKeyEntry(key=SecretStr(key), tenant=tenant, subject=key, roles=roles)
        for key, (tenant, roles) in KEYS.items()
    ]
    service = create_app(settings_for(database_url, http=HttpSettings(api_keys=entries)))
    await service.prepare_registry()
    await harness.__class__(service, harness.resolver).define(
        harness.http_tool("acme.crm"), tenant="acme"
    )
    transport = httpx.ASGITransport(app=service.http)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://te") as http:
            yield http, service
    finally:
        await service.implementations.aclose()
        await service.bus.engine.dispose()


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def test_every_route_needs_a_key(client: Any) -> None:
    http, _ = client
    for method, path in (("GET", "/v1/tools"), ("GET", "/v1/grants"), ("PUT", "/v1/grants/x")):
        response = await http.request(method, path)
        assert response.status_code == 401
        assert response.json()["code"] in {"auth.missing", "auth.invalid"}
    assert (await http.get("/v1/tools", headers=auth("wrong"))).status_code == 401
    assert (await http.get("/healthz")).status_code == 200
    assert "/v1/tools" in (await http.get("/openapi.json")).json()["paths"]


async def test_tools_are_listed_per_tenant(client: Any) -> None:
    http, _ = client
    acme = (await http.get("/v1/tools", headers=auth("acme-agent"))).json()
    other = (await http.get("/v1/tools", headers=auth("other-admin"))).json()
    assert {"http.request", "math.evaluate", "acme.crm"} <= {t["name"] for t in acme}
    assert "acme.crm" not in {t["name"] for t in other}
    detail = await http.get("/v1/tools/acme.crm", headers=auth("acme-agent"))
    assert detail.status_code == 200
    assert detail.json()[0]["arguments_schema"]["required"] == ["url"]
    hidden = await http.get("/v1/tools/acme.crm", headers=auth("other-admin"))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "not_found"


async def test_grants_are_admin_only_tenant_scoped_and_audited(client: Any) -> None:
    http, service = client
    body = {"scopes": ["crm:write"], "hosts": ["api.example.com"]}
    forbidden = await http.put("/v1/grants/acme.crm", json=body, headers=auth("acme-agent"))
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "auth.forbidden"
    granted = await http.put("/v1/grants/acme.crm", json=body, headers=auth("acme-admin"))
    assert granted.status_code == 200
    assert granted.json()["hosts"] == ["api.example.com"]
    # Another tenant cannot see (so cannot grant) acme's own tool, nor its grants.
    foreign = await http.put("/v1/grants/acme.crm", json=body, headers=auth("other-admin"))
    assert foreign.status_code == 404
    assert (await http.get("/v1/grants", headers=auth("other-admin"))).json() == []
    listed = (await http.get("/v1/tools", headers=auth("acme-agent"))).json()
    assert next(t for t in listed if t["name"] == "acme.crm")["granted"] is True
    invalid = await http.put(
        "/v1/grants/acme.crm", json={"scopes": "crm:write"}, headers=auth("acme-admin")
    )
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "request.invalid"
    assert "scopes" in invalid.json()["message"]
    revoked = await http.delete("/v1/grants/acme.crm", headers=auth("acme-admin"))
    assert revoked.status_code == 204
    again = await http.delete("/v1/grants/acme.crm", headers=auth("acme-admin"))
    assert again.status_code == 404
    async with service.bus.uow.sessions() as session:
        rows = (await session.exec(select(OutboxEntry))).all()
    audits = [decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]
    assert [(a.action, a.actor.id) for a in audits] == [
        ("tool.grant", "acme-admin"),
        ("tool.revoke", "acme-admin"),
    ]


async def test_a_grant_revoked_through_the_api_stops_the_next_call_though_it_was_cached(
    database_url: str, settings_for: Any, harness: Any, counting_server: Any
) -> None:
    from tool_executor.settings import Limits

    from contracts.events.tool import ToolStatus

    entries = [
        ApiKeyEntry(
            key=SecretStr("acme-admin"), tenant="acme", subject="acme-admin", roles=["tool-admin"]
        )
    ]
    settings = settings_for(
        database_url,
        http=HttpSettings(api_keys=entries),
        limits=Limits(registry_cache_s=600),  # only an invalidation can end the cached grant
    )
    service = create_app(settings)
    await service.prepare_registry()
    runner = harness.__class__(service, harness.resolver)
    await runner.define(harness.http_tool("acme.crm"), tenant="acme")
    body = {"scopes": ["crm:write"], "hosts": ["127.0.0.1"], "allowed_networks": ["127.0.0.1/8"]}
    request = harness.request("acme.crm", {"url": f"{counting_server.url}/echo"})
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.http), base_url="http://te"
        ) as http:
            put = await http.put("/v1/grants/acme.crm", json=body, headers=auth("acme-admin"))
            assert put.status_code == 200
            allowed, _ = await runner.run(request)
            assert allowed.status is ToolStatus.SUCCEEDED
            deleted = await http.delete("/v1/grants/acme.crm", headers=auth("acme-admin"))
            assert deleted.status_code == 204
            denied, _ = await runner.run(harness.request("acme.crm", request.data.arguments))
            assert denied.status is ToolStatus.DENIED
            assert denied.error.code == "tool.grant_missing"
        assert counting_server.hits("/echo") == 1
    finally:
        await service.implementations.aclose()
        await service.bus.engine.dispose()
