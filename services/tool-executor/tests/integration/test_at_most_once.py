"""At-most-once writes, on SQLite and PostgreSQL: a write tool that is neither idempotent nor
handed the idempotency key is never called twice for one key. A started attempt that never
recorded its end (a crash) ends as `tool.outcome_unknown` until an operator resolves it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tool_executor.domain import Grant, Implementation, SideEffect, ToolDefinition
from tool_executor.repositories import CallRepository
from tool_executor.tools import ToolCall

from contracts.events.tool import ToolStatus

pytestmark = pytest.mark.integration


class CountingTool:
    """A write with no idempotency of its own: every call is one more effect."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.calls: list[str] = []
        self.hold_s = hold_s

    async def run(self, call: ToolCall) -> Any:
        self.calls.append(call.idempotency_key)
        await asyncio.sleep(self.hold_s)
        return {"posted": len(self.calls)}


async def _ledger(harness: Any, tool: CountingTool, **changes: Any) -> None:
    harness.service.implementations.builtins["test.ledger"] = tool
    definition = ToolDefinition(
        name="ledger.post",
        version="1",
        side_effect=SideEffect.WRITE,
        timeout_s=2,
        implementation=Implementation(kind="builtin", name="test.ledger"),
    ).model_copy(update=changes)
    await harness.define(definition)
    await harness.grant("acme", Grant(tool="ledger.post"))


async def _started_then_crashed(harness: Any, envelope: Any) -> None:
    """What a SIGKILL after the call leaves: prepare's committed reservation, nothing else."""
    async with harness.service.bus.uow(envelope.tenantid) as uow:
        await harness.service.execute.prepare(envelope, uow)
        await uow.commit()


async def test_a_started_attempt_is_not_called_again_and_reports_the_unknown_outcome(
    harness: Any,
) -> None:
    tool = CountingTool()
    await _ledger(harness, tool)
    first = harness.request("ledger.post", {"amount": 5}, key="run-1:post:1")
    await _started_then_crashed(harness, first)

    redelivered, audit = await harness.run(first)
    assert redelivered.status is ToolStatus.FAILED
    assert redelivered.error.code == "tool.outcome_unknown"
    assert redelivered.error.retryable is False
    assert redelivered.error.details["needs_reconciliation"] is True
    assert redelivered.error.details["idempotency_key"] == "run-1:post:1"
    assert "reconcile" in redelivered.error.message
    assert audit.error_code == "tool.outcome_unknown"
    # The planner retrying the step under the same key is not called either.
    again, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:post:1"))
    assert again.error.code == "tool.outcome_unknown"
    assert tool.calls == []
    # Another key is unaffected.
    other, _ = await harness.run(harness.request("ledger.post", {"amount": 6}, key="run-2:post:1"))
    assert other.status is ToolStatus.SUCCEEDED
    assert tool.calls == ["run-2:post:1"]

    # The operator finds it applied: later deliveries replay the result they record.
    async with harness.service.bus.uow("acme") as uow:
        unknown = await CallRepository(uow).unresolved()
        assert [row.idempotency_key for row in unknown] == ["run-1:post:1"]
        assert await CallRepository(uow).resolve("run-1:post:1", applied=True, result={"ok": 1})
        await uow.commit()
    replayed, _ = await harness.run(
        harness.request("ledger.post", {"amount": 5}, key="run-1:post:1")
    )
    assert replayed.status is ToolStatus.SUCCEEDED
    assert replayed.result == {"ok": 1}
    assert tool.calls == ["run-2:post:1"]


async def test_a_tool_declared_idempotent_is_called_again_after_a_crash(harness: Any) -> None:
    tool = CountingTool()
    await _ledger(harness, tool, idempotent=True)
    envelope = harness.request("ledger.post", {"amount": 5}, key="run-1:post:1")
    await _started_then_crashed(harness, envelope)
    redelivered, _ = await harness.run(envelope)
    assert redelivered.status is ToolStatus.SUCCEEDED
    assert tool.calls == ["run-1:post:1"]


async def test_a_timed_out_at_most_once_call_is_tried_once_and_held_until_resolved(
    harness: Any,
) -> None:
    tool = CountingTool(hold_s=5)  # longer than the definition's 2 s timeout
    await _ledger(harness, tool)
    timed_out, _ = await harness.run(
        harness.request("ledger.post", {"amount": 5}, key="run-1:post:1")
    )
    assert timed_out.status is ToolStatus.FAILED
    assert timed_out.error.code == "tool.outcome_unknown"
    assert "timed out after it was sent" in timed_out.error.message
    assert tool.calls == ["run-1:post:1"]  # no retry of a call that may have taken effect
    tool.hold_s = 0
    held, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:post:1"))
    assert held.error.code == "tool.outcome_unknown"
    assert len(tool.calls) == 1

    # The operator finds it did not happen: the next attempt calls again.
    async with harness.service.bus.uow("acme") as uow:
        assert await CallRepository(uow).resolve("run-1:post:1", applied=False)
        assert not await CallRepository(uow).resolve("run-1:post:1", applied=False)
        await uow.commit()
    retried, _ = await harness.run(
        harness.request("ledger.post", {"amount": 5}, key="run-1:post:1")
    )
    assert retried.status is ToolStatus.SUCCEEDED
    assert len(tool.calls) == 2


async def test_a_failure_the_tool_reports_frees_the_key(harness: Any) -> None:
    class Refusing(CountingTool):
        async def run(self, call: ToolCall) -> Any:
            from tool_executor.domain import ToolError

            self.calls.append(call.idempotency_key)
            raise ToolError("tool.ledger_closed", "the ledger is closed")

    tool = Refusing()
    await _ledger(harness, tool)
    for _ in range(2):
        failed, _ = await harness.run(
            harness.request("ledger.post", {"amount": 5}, key="run-1:post:1")
        )
        assert failed.error.code == "tool.ledger_closed"
    assert len(tool.calls) == 2  # a definite failure is no unknown outcome


async def test_a_tool_that_crashes_after_its_effect_is_held_as_unknown(harness: Any) -> None:
    class Crashing(CountingTool):
        async def run(self, call: ToolCall) -> Any:
            self.calls.append(call.idempotency_key)  # the effect, then the bug
            raise RuntimeError("lost the connection's answer")

    tool = Crashing()
    await _ledger(harness, tool)
    crashed, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:p:1"))
    assert crashed.error.code == "tool.outcome_unknown"
    assert "ended with tool.crashed after it was sent" in crashed.error.message
    again, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:p:1"))
    assert again.error.code == "tool.outcome_unknown"
    assert tool.calls == ["run-1:p:1"]


async def test_an_idempotent_tool_keeps_its_retries_and_frees_its_key(harness: Any) -> None:
    class Flaky(CountingTool):
        async def run(self, call: ToolCall) -> Any:
            self.calls.append(call.idempotency_key)
            if len(self.calls) < 3:
                raise RuntimeError("flaky")
            return {"posted": len(self.calls)}

    tool = Flaky()
    await _ledger(harness, tool, idempotent=True)
    crashed, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:p:1"))
    assert crashed.error.code == "tool.crashed"  # not retried: a crash is not transient
    second, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:p:1"))
    assert second.error.code == "tool.crashed"
    third, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:p:1"))
    assert third.status is ToolStatus.SUCCEEDED
    assert len(tool.calls) == 3


async def test_a_transient_failure_before_the_call_left_is_retried(harness: Any) -> None:
    class Busy(CountingTool):
        async def run(self, call: ToolCall) -> Any:
            from tool_executor.domain import ToolError

            self.calls.append(call.idempotency_key)
            if len(self.calls) == 1:  # e.g. connection refused: nothing was sent
                raise ToolError("tool.unreachable", "connection refused", retryable=True)
            return {"posted": len(self.calls)}

    tool = Busy()
    await _ledger(harness, tool)
    done, _ = await harness.run(harness.request("ledger.post", {"amount": 5}, key="run-1:p:1"))
    assert done.status is ToolStatus.SUCCEEDED
    assert len(tool.calls) == 2


async def test_a_record_that_failed_does_not_turn_a_finished_call_unknown(
    harness: Any, database_url: str, settings_for: Any
) -> None:
    from tool_executor.app import create_app

    from agentbus.bus import IoContext

    tool = CountingTool()
    await _ledger(harness, tool)
    execute, uow = harness.service.execute, harness.service.bus.uow

    async def call_then_fail_to_record(envelope: Any) -> None:
        async with uow("acme") as unit:
            plan = await execute.prepare(envelope, unit)
            await unit.commit()
        result = await execute.perform(plan, IoContext(envelope, "k", 1, "g"))
        async with uow("acme") as unit:  # a database fault: the record is never committed
            await execute.record(envelope, result, unit)

    # This process made the call: running the phases again records it, no second call.
    first = harness.request("ledger.post", {"amount": 5}, key="run-1:p:1")
    await call_then_fail_to_record(first)
    recorded, _ = await harness.run(first)
    assert recorded.status is ToolStatus.SUCCEEDED
    assert recorded.result == {"posted": 1}
    assert tool.calls == ["run-1:p:1"]

    # A process that did not make it (a replica, or this one after a crash) cannot know.
    second = harness.request("ledger.post", {"amount": 6}, key="run-2:p:1")
    await call_then_fail_to_record(second)
    replica = create_app(settings_for(database_url))
    try:
        other, _ = await harness.__class__(replica, harness.resolver).run(second)
        assert other.error.code == "tool.outcome_unknown"
    finally:
        await replica.implementations.aclose()
        await replica.bus.engine.dispose()
    assert tool.calls == ["run-1:p:1", "run-2:p:1"]
