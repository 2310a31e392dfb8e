"""A real uvicorn server on 127.0.0.1: authentication, roles, JSON errors, probes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from agentbus.http import (
    CurrentPrincipal,
    HttpSettings,
    JwtSettings,
    Principal,
    create_http_app,
    current_principal,
    hash_api_key,
    mint_api_key,
    not_found,
    require_roles,
)
from agentbus.http.authenticator import Authenticator
from agentbus.http.testing import serving

SECRET = "test-secret-that-is-long-enough-for-hs256"
KEY = mint_api_key()
ADMIN_KEY = mint_api_key()
WRITE_ROLE = "items.write"


Writer = Annotated[Principal, Depends(require_roles(WRITE_ROLE))]


class Item(BaseModel):
    name: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class State:
    ready = True


async def flaky() -> bool:
    return State.ready


async def broken() -> None:
    raise ConnectionError("postgresql://user:hunter2@db/x refused")


def build_app(checks: dict[str, object]) -> object:
    settings = HttpSettings(
        api_keys=[
            {"key_sha256": hash_api_key(KEY), "tenant": "acme", "subject": "alice"},
            {
                "key_sha256": hash_api_key(ADMIN_KEY),
                "tenant": "globex",
                "subject": "ops",
                "roles": [WRITE_ROLE],
                "kind": "service",
            },
        ],
        jwt=JwtSettings(secret=SECRET),
    )
    app = create_http_app(
        title="test",
        version="1.0",
        authenticator=Authenticator.from_settings(settings),
        readiness_checks=checks,  # type: ignore[arg-type]
        readiness_timeout_s=1.0,
    )
    router = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])

    @router.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, object]:
        return {
            "tenant": principal.tenant_id,
            "subject": principal.subject,
            "roles": sorted(principal.roles),
            "kind": principal.kind,
        }

    @router.post("/items", status_code=201)
    async def create(item: Item, principal: Writer) -> dict[str, str]:
        return {"name": item.name, "tenant": principal.tenant_id}

    @router.get("/items/{item_id}")
    async def get_item(item_id: str) -> None:
        raise not_found("item", item_id)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 leaked?")

    @router.get("/busy")
    async def busy() -> None:
        raise OperationalError("UPDATE t", {}, RuntimeError("deadlock detected"))

    app.include_router(router)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    State.ready = True
    app = build_app({"flaky": flaky})
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        yield http


def token(**claims: object) -> str:
    base: dict[str, object] = {
        "sub": "carol",
        "tenant": "acme",
        "roles": [WRITE_ROLE],
        "exp": int(time.time()) + 60,
    }
    return jwt.encode(base | claims, SECRET, algorithm="HS256")


async def test_missing_credential_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.json()["code"] == "auth.missing"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-key"},
        {"X-API-Key": "abk_wrong"},
        {"Authorization": "Basic x"},
    ],
)
async def test_bad_credential_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/v1/whoami", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] in {"auth.invalid", "auth.missing"}
    assert set(response.json()) >= {"code", "message"}


async def test_api_key_in_either_header_names_the_tenant(client: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
        response = await client.get("/v1/whoami", headers=headers)
        assert response.status_code == 200
        assert response.json() == {
            "tenant": "acme",
            "subject": "alice",
            "roles": [],
            "kind": "user",
        }


async def test_missing_role_is_403_and_role_holder_passes(client: httpx.AsyncClient) -> None:
    body = {"name": "x", "quantity": 1}
    denied = await client.post("/v1/items", json=body, headers={"X-API-Key": KEY})
    assert denied.status_code == 403
    assert denied.json()["code"] == "auth.forbidden"
    assert WRITE_ROLE in denied.json()["message"]
    allowed = await client.post("/v1/items", json=body, headers={"X-API-Key": ADMIN_KEY})
    assert allowed.status_code == 201
    assert allowed.json() == {"name": "x", "tenant": "globex"}


async def test_jwt_valid_expired_and_wrong_signature(client: httpx.AsyncClient) -> None:
    ok = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {token()}"})
    assert ok.status_code == 200
    assert ok.json()["subject"] == "carol"
    assert ok.json()["roles"] == [WRITE_ROLE]

    expired = token(exp=int(time.time()) - 3600)
    response = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json() == {"code": "auth.invalid", "message": "token expired"}

    forged = jwt.encode({"sub": "x", "tenant": "acme", "exp": 2**31}, "another-secret-" * 3)
    response = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["message"] == "token signature does not verify"

    no_exp = jwt.encode({"sub": "x", "tenant": "acme"}, SECRET, algorithm="HS256")
    response = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {no_exp}"})
    assert response.status_code == 401
    assert "'exp'" in response.json()["message"]


async def test_validation_error_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/items", json={"name": "x", "quantity": 0}, headers={"X-API-Key": ADMIN_KEY}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "request.invalid"
    assert body["message"].startswith("body.quantity:")
    assert body["details"][0]["field"] == "body.quantity"
    assert "input" not in body["details"][0]

    response = await client.post(
        "/v1/items",
        content=b"{not json",
        headers={"X-API-Key": ADMIN_KEY, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "request.invalid"


async def test_not_found_method_and_internal_errors_are_json(client: httpx.AsyncClient) -> None:
    auth = {"X-API-Key": KEY}
    missing = await client.get("/v1/items/i-1", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "message": "item 'i-1' not found"}

    route = await client.get("/nowhere")
    assert route.status_code == 404
    assert route.json()["code"] == "not_found"

    method = await client.delete("/healthz")
    assert method.status_code == 405
    assert method.json()["code"] == "method_not_allowed"

    boom = await client.get("/v1/boom", headers=auth)
    assert boom.status_code == 500
    assert boom.json()["code"] == "internal"
    assert "hunter2" not in boom.text


async def test_a_transient_database_error_is_a_503_to_retry(client: httpx.AsyncClient) -> None:
    busy = await client.get("/v1/busy", headers={"X-API-Key": KEY})
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["code"] == "unavailable"
    assert "UPDATE" not in busy.text  # no statement or parameters leave the service


async def test_probes_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"flaky": "ok"}
    State.ready = False
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["code"] == "not_ready"
    assert "flaky" in not_ready.json()["message"]

    spec = (await client.get("/openapi.json")).json()
    assert "/v1/whoami" in spec["paths"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


async def test_readyz_names_a_raising_check_without_its_message() -> None:
    app = build_app({"database": broken, "flaky": flaky})
    State.ready = True
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "failed: ConnectionError", "flaky": "ok"}
    assert "hunter2" not in response.text
