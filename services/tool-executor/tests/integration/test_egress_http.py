"""SSRF: loopback, metadata, private addresses, names resolving to them, and redirects to
them are all blocked; connections go to the address that was checked."""

from __future__ import annotations

from typing import Any

import pytest
from tool_executor.domain import Grant

from contracts.events.tool import ToolStatus

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    # Egress is decided in memory; one database is enough here.
    url: str = request.getfixturevalue("sqlite_url")
    return url


async def call(harness: Any, url: str, **grant: Any) -> Any:
    await harness.define(harness.http_tool("web.call"))
    await harness.grant("acme", Grant(tool="web.call", scopes=["crm:write"], **grant))
    completed, audit = await harness.run(harness.request("web.call", {"url": url}))
    return completed, audit


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("10.20.30.40", "private"),
        ("[::1]", "loopback"),
    ],
)
async def test_blocked_addresses(
    harness: Any, counting_server: Any, host: str, reason: str
) -> None:
    port = counting_server.url.rsplit(":", 1)[1]
    completed, audit = await call(harness, f"http://{host}:{port}/echo", hosts=[host.strip("[]")])
    assert completed.status is ToolStatus.DENIED
    assert completed.error.code == "tool.egress_denied"
    assert reason in completed.error.message
    assert audit.details["decision"] == "denied"
    assert counting_server.requests == []


async def test_a_host_off_the_allow_list_is_blocked(harness: Any, counting_server: Any) -> None:
    completed, _ = await call(harness, f"{counting_server.url}/echo", hosts=["api.example.com"])
    assert completed.status is ToolStatus.DENIED
    assert "allow-list" in completed.error.message
    assert counting_server.requests == []


async def test_names_resolving_to_blocked_addresses(harness: Any, counting_server: Any) -> None:
    port = counting_server.url.rsplit(":", 1)[1]
    harness.resolver.answers["internal.corp.test"] = ["10.0.0.7"]
    harness.resolver.answers["rebind.test"] = ["93.184.216.34", "127.0.0.1"]
    hosts = ["internal.corp.test", "rebind.test", "localhost"]
    for host in ("internal.corp.test", "rebind.test", "localhost"):  # localhost: real resolver
        completed, _ = await call(harness, f"http://{host}:{port}/echo", hosts=hosts)
        assert completed.status is ToolStatus.DENIED, host
        assert completed.error.code == "tool.egress_denied"
    assert counting_server.requests == []


async def test_redirects_to_blocked_addresses_are_not_followed(
    harness: Any, counting_server: Any
) -> None:
    port = counting_server.url.rsplit(":", 1)[1]
    harness.resolver.answers["internal.corp.test"] = ["10.0.0.7"]
    local = {"hosts": ["127.0.0.1", "internal.corp.test"], "allowed_networks": ["127.0.0.1/32"]}
    targets = [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://10.1.1.1/admin",
        f"http://internal.corp.test:{port}/echo",
        f"http://localhost:{port}/echo",  # not on the allow-list
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
    ]
    for target in targets:
        completed, _ = await call(harness, f"{counting_server.url}/redirect?to={target}", **local)
        assert completed.status is ToolStatus.DENIED, target
        assert completed.error.code == "tool.egress_denied"
    assert counting_server.hits("/redirect") == len(targets)
    assert counting_server.hits("/echo") == 0


async def test_allowed_redirects_drop_secret_headers_off_origin_and_pin_the_address(
    harness: Any, counting_server: Any
) -> None:
    port = counting_server.url.rsplit(":", 1)[1]
    # A name only this test's resolver knows: reaching the server proves the connection
    # went to the address that was checked, with the name kept as the Host header.
    harness.resolver.answers["pinned.test"] = ["127.0.0.1"]
    local = {"hosts": ["127.0.0.1", "pinned.test"], "allowed_networks": ["127.0.0.1/32"]}
    target = f"http://pinned.test:{port}/echo"
    completed, _ = await call(harness, f"{counting_server.url}/redirect?to={target}", **local)
    assert completed.status is ToolStatus.SUCCEEDED
    first, second = counting_server.requests
    assert first["headers"]["authorization"] == f"Bearer {harness.canary}"
    assert second["headers"]["host"] == f"pinned.test:{port}"
    assert "authorization" not in second["headers"]
    assert second["headers"]["idempotency-key"] == first["headers"]["idempotency-key"]


async def test_too_many_redirects(harness: Any, counting_server: Any) -> None:
    local = {"hosts": ["127.0.0.1"], "allowed_networks": ["127.0.0.1/32"]}
    url = f"{counting_server.url}/redirect?to=/redirect"
    completed, _ = await call(harness, url, **local)
    assert completed.error.code == "tool.too_many_redirects"
    assert counting_server.hits("/redirect") == 6  # the first request and 5 redirects
