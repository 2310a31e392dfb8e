"""The handler's phases against a real HTTP server on 127.0.0.1 (SQLite; see test_store_paths).

Grants deny by default, arguments are validated, idempotency keys execute once, transient
failures are retried and permanent ones are not, results are size- and schema-checked.
"""

from __future__ import annotations

from typing import Any

import pytest
from tool_executor.domain import Grant

from contracts.events.audit import AuditOutcome
from contracts.events.tool import ToolStatus, arguments_sha256

pytestmark = pytest.mark.integration

LOCAL = {"hosts": ["127.0.0.1"], "allowed_networks": ["127.0.0.1/32"]}


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    # Decisions and calls; the store paths run on both databases in test_store_paths.py.
    url: str = request.getfixturevalue("sqlite_url")
    return url


async def test_without_a_grant_nothing_runs_and_the_grant_is_named(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("crm.update"))
    request = harness.request("crm.update", {"url": f"{counting_server.url}/echo"})
    completed, audit = await harness.run(request)
    assert completed.status is ToolStatus.DENIED
    assert completed.error.code == "tool.grant_missing"
    assert "no grant for tool 'crm.update'" in completed.error.message
    assert counting_server.requests == []
    assert audit.outcome is AuditOutcome.DENIED
    assert audit.details["decision"] == "denied"
    assert audit.tool is not None
    assert (audit.tool.name, audit.tool.version) == ("crm.update", "1")


async def test_a_cookie_one_call_received_is_never_sent_by_another(
    harness: Any, counting_server: Any
) -> None:
    # One HTTP client serves every tenant: a cookie jar would hand tenant A's session to B.
    await harness.define(harness.http_tool("crm.update"))
    for tenant in ("tenant-a", "tenant-b"):
        await harness.grant(tenant, Grant(tool="crm.update", scopes=["crm:write"], **LOCAL))
    url = f"{counting_server.url}/echo"
    first, _ = await harness.run(
        harness.request("crm.update", {"url": f"{url}?set_cookie=a-session"}, tenant="tenant-a")
    )
    assert first.status is ToolStatus.SUCCEEDED
    second, _ = await harness.run(harness.request("crm.update", {"url": url}, tenant="tenant-b"))
    assert second.status is ToolStatus.SUCCEEDED
    assert "cookie" not in second.result["body"]["headers"]
    assert all("cookie" not in r["headers"] for r in counting_server.requests)


async def test_missing_caller_scope_is_named(harness: Any, counting_server: Any) -> None:
    await harness.define(harness.http_tool("crm.update"))
    await harness.grant("acme", Grant(tool="crm.update", scopes=["crm:write"], **LOCAL))
    request = harness.request("crm.update", {"url": f"{counting_server.url}/echo"}, scopes=[])
    completed, _ = await harness.run(request)
    assert completed.status is ToolStatus.DENIED
    assert completed.error.code == "tool.scope_missing"
    assert "crm:write" in completed.error.message
    assert counting_server.requests == []


async def test_arguments_failing_the_schema_are_refused_naming_the_field(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("crm.update"))
    await harness.grant("acme", Grant(tool="crm.update", scopes=["crm:write"], **LOCAL))
    bad = {"url": f"{counting_server.url}/echo", "method": "DELETE"}
    completed, audit = await harness.run(harness.request("crm.update", bad))
    assert completed.status is ToolStatus.FAILED
    assert completed.error.code == "tool.invalid_arguments"
    assert completed.error.message.startswith("argument 'method'")
    assert completed.error.details == {"field": "method"}
    missing, _ = await harness.run(harness.request("crm.update", {"json": {}}))
    assert "argument 'url' is required" in missing.error.message
    assert counting_server.requests == []
    assert audit.outcome is AuditOutcome.FAILED


async def test_a_timeout_is_retried_then_reported_and_a_400_is_not_retried(
    harness: Any, counting_server: Any
) -> None:
    # Only the slow tool has a short timeout, so a loaded machine cannot turn the 400 and
    # 503 calls into timeouts.
    await harness.define(harness.http_tool("crm.slow", timeout_s=0.3))
    await harness.define(harness.http_tool("crm.update"))
    for tool in ("crm.slow", "crm.update"):
        await harness.grant("acme", Grant(tool=tool, scopes=["crm:write"], **LOCAL))
    slow, audit = await harness.run(
        harness.request("crm.slow", {"url": f"{counting_server.url}/slow?s=1"})
    )
    assert slow.status is ToolStatus.FAILED
    assert slow.error.code == "tool.timeout"
    assert slow.error.retryable is True
    assert counting_server.hits("/slow") == 3  # call_retry.max_attempts
    assert audit.details["attempts"] == 3
    bad, _ = await harness.run(
        harness.request("crm.update", {"url": f"{counting_server.url}/status/400"})
    )
    assert bad.status is ToolStatus.FAILED
    assert (bad.error.code, bad.error.retryable) == ("tool.http_error", False)
    assert "HTTP 400" in bad.error.message
    assert counting_server.hits("/status/400") == 1
    unavailable, _ = await harness.run(
        harness.request("crm.update", {"url": f"{counting_server.url}/status/503"})
    )
    assert unavailable.error.retryable is True
    assert counting_server.hits("/status/503") == 3


async def test_oversized_responses_and_results_are_refused(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("crm.update"))
    await harness.grant("acme", Grant(tool="crm.update", scopes=["crm:write"], **LOCAL))
    huge, _ = await harness.run(
        harness.request("crm.update", {"url": f"{counting_server.url}/big?n=200000"})
    )
    assert (huge.status, huge.error.code) == (ToolStatus.FAILED, "tool.response_too_large")
    # 40 KiB passes the response limit (64 KiB) but not the result limit (32 KiB).
    large, _ = await harness.run(
        harness.request("crm.update", {"url": f"{counting_server.url}/big?n=40960"})
    )
    assert (large.status, large.error.code) == (ToolStatus.FAILED, "tool.result_too_large")
    assert large.result is None


async def test_a_result_failing_its_schema_is_an_error(harness: Any, counting_server: Any) -> None:
    strict = {"type": "object", "required": ["body"], "properties": {"status": {"const": 201}}}
    await harness.define(harness.http_tool("crm.create", result_schema=strict))
    await harness.grant("acme", Grant(tool="crm.create", scopes=["crm:write"], **LOCAL))
    completed, _ = await harness.run(
        harness.request("crm.create", {"url": f"{counting_server.url}/echo"})
    )
    assert completed.status is ToolStatus.FAILED
    assert completed.error.code == "tool.result_invalid"
    assert "'status'" in completed.error.message


async def test_data_tools_and_the_entry_point_plugin(harness: Any) -> None:
    for tool in ("math.evaluate", "json.transform", "text.word_count"):
        await harness.grant("acme", Grant(tool=tool))
    math, _ = await harness.run(
        harness.request("math.evaluate", {"expression": "(a + 1) ** 2", "variables": {"a": 2}})
    )
    assert math.result == {"value": 9}
    transform, _ = await harness.run(
        harness.request("json.transform", {"data": {"a": [1, 2, 3]}, "expression": "length(a)"})
    )
    assert transform.result == 3
    words, audit = await harness.run(harness.request("text.word_count", {"text": "one two"}))
    assert words.result == {"words": 2, "characters": 7}
    assert audit.output is not None
    assert audit.output.sha256 is not None
    assert audit.details["arguments_sha256"] == arguments_sha256({"text": "one two"})
    assert audit.details["argument_names"] == ["text"]


async def test_callers_cannot_replace_configured_headers(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("crm.update"))
    await harness.grant("acme", Grant(tool="crm.update", scopes=["crm:write"], **LOCAL))
    sneaky = {"authorization": "Bearer stolen", "Idempotency-Key": "mine", "X-Trace": "1"}
    request = harness.request(
        "crm.update", {"url": f"{counting_server.url}/echo", "headers": sneaky}, key="r:k:1"
    )
    completed, _ = await harness.run(request)
    assert completed.status is ToolStatus.SUCCEEDED
    seen = counting_server.requests[0]["headers"]
    assert seen["authorization"] == f"Bearer {harness.canary}"
    assert seen["idempotency-key"] == "r:k:1"
    assert seen["x-trace"] == "1"
