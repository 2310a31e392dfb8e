"""What the store decides, on SQLite and PostgreSQL: tenant isolation of grants and
definitions, idempotency keys executed once, released on failure, shared by replicas."""

from __future__ import annotations

from typing import Any

import pytest
from tool_executor.app import create_app
from tool_executor.domain import Grant

from agentbus.bus import IoContext, TransientError
from contracts.events.tool import ToolStatus

pytestmark = pytest.mark.integration

LOCAL = {"hosts": ["127.0.0.1"], "allowed_networks": ["127.0.0.1/32"]}


async def test_one_tenants_grant_never_lets_another_tenant_call(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("crm.update"))
    await harness.grant("tenant-a", Grant(tool="crm.update", scopes=["crm:write"], **LOCAL))
    url = f"{counting_server.url}/echo"
    allowed, _ = await harness.run(harness.request("crm.update", {"url": url}, tenant="tenant-a"))
    assert allowed.status is ToolStatus.SUCCEEDED
    denied, _ = await harness.run(harness.request("crm.update", {"url": url}, tenant="tenant-b"))
    assert denied.status is ToolStatus.DENIED
    assert "'tenant-b' has no grant" in denied.error.message
    assert counting_server.hits("/echo") == 1


async def test_a_tenants_own_tool_is_invisible_to_others(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("private.crm"), tenant="tenant-a")
    await harness.grant("tenant-b", Grant(tool="private.crm", scopes=["crm:write"], **LOCAL))
    url = f"{counting_server.url}/echo"
    completed, _ = await harness.run(
        harness.request("private.crm", {"url": url}, tenant="tenant-b")
    )
    assert completed.status is ToolStatus.DENIED
    assert completed.error.code == "tool.unknown"
    assert counting_server.requests == []


async def test_the_same_write_key_executes_once_and_replays_its_result(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("payments.charge"))
    await harness.grant("acme", Grant(tool="payments.charge", scopes=["crm:write"], **LOCAL))
    arguments = {"url": f"{counting_server.url}/pay", "method": "POST", "json": {"amount": 5}}
    first = harness.request("payments.charge", arguments, key="run-1:charge:1")
    # The same step delivered again under a new event id (e.g. the planner re-sent it).
    second = harness.request("payments.charge", arguments, key="run-1:charge:1")
    one, _ = await harness.run(first)
    two, audit = await harness.run(second)
    assert one.status is two.status is ToolStatus.SUCCEEDED
    assert one.result == two.result
    assert counting_server.hits("/pay") == 1
    assert counting_server.requests[0]["headers"]["idempotency-key"] == "run-1:charge:1"
    assert audit.details["replayed"] is True
    other, _ = await harness.run(harness.request("payments.charge", arguments, key="run-2:x:1"))
    assert other.result != one.result
    assert counting_server.hits("/pay") == 2


async def test_a_failed_write_releases_its_key_for_the_next_attempt(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("crm.update"))
    await harness.grant("acme", Grant(tool="crm.update", scopes=["crm:write"], **LOCAL))
    failing = {"url": f"{counting_server.url}/status/400"}
    first, _ = await harness.run(harness.request("crm.update", failing, key="r:s:1"))
    assert first.status is ToolStatus.FAILED
    working = {"url": f"{counting_server.url}/echo"}
    second, _ = await harness.run(harness.request("crm.update", working, key="r:s:1"))
    assert second.status is ToolStatus.SUCCEEDED


async def test_two_replicas_share_the_key_through_the_database(
    harness: Any, counting_server: Any, database_url: str, settings_for: Any
) -> None:

    await harness.define(harness.http_tool("payments.charge"))
    await harness.grant("acme", Grant(tool="payments.charge", scopes=["crm:write"], **LOCAL))
    replica = create_app(settings_for(database_url))
    other = harness.__class__(replica, harness.resolver)
    arguments = {"url": f"{counting_server.url}/pay", "method": "POST", "json": {"amount": 5}}
    first = harness.request("payments.charge", arguments, key="run-r:charge:1")
    second = harness.request("payments.charge", arguments, key="run-r:charge:1")
    try:
        async with harness.service.bus.uow("acme") as uow:
            plan = await harness.service.execute.prepare(first, uow)
            await uow.commit()
        assert plan.reserved
        # The other replica, mid-call of the first: the key is taken, try again later.
        with pytest.raises(TransientError, match="another event"):
            await other.run(second)
        result = await harness.service.execute.perform(plan, IoContext(first, "k", 1, "g"))
        async with harness.service.bus.uow("acme") as uow:
            await harness.service.execute.record(first, result, uow)
            await uow.commit()
        replayed, audit = await other.run(second)
        assert replayed.status is ToolStatus.SUCCEEDED
        assert audit.details["replayed"] is True
        assert counting_server.hits("/pay") == 1
    finally:
        await replica.implementations.aclose()
        await replica.bus.engine.dispose()


async def test_a_result_is_kept_even_when_its_reservation_vanished(
    harness: Any, counting_server: Any
) -> None:
    from tool_executor.repositories import CallRepository

    await harness.define(harness.http_tool("payments.charge"))
    await harness.grant("acme", Grant(tool="payments.charge", scopes=["crm:write"], **LOCAL))
    arguments = {"url": f"{counting_server.url}/pay", "method": "POST", "json": {"amount": 5}}
    first = harness.request("payments.charge", arguments, key="run-v:charge:1")
    execute = harness.service.execute
    async with harness.service.bus.uow("acme") as uow:
        plan = await execute.prepare(first, uow)
        await uow.commit()
    async with harness.service.bus.uow("acme") as uow:  # e.g. released by an operator
        await CallRepository(uow).release("run-v:charge:1")
        await uow.commit()
    result = await execute.perform(plan, IoContext(first, "k", 1, "g"))
    async with harness.service.bus.uow("acme") as uow:
        await execute.record(first, result, uow)
        await uow.commit()
    again, audit = await harness.run(
        harness.request("payments.charge", arguments, key="run-v:charge:1")
    )
    assert again.status is ToolStatus.SUCCEEDED
    assert audit.details["replayed"] is True
    assert counting_server.hits("/pay") == 1
