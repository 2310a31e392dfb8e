"""A request marked as an evaluation never calls a write tool: fixture or refusal (issue 12)."""

from __future__ import annotations

from tool_executor.domain import Implementation, SideEffect, ToolDefinition
from tool_executor.handlers import _evaluation_plan
from tool_executor.replies import completed_envelopes

from contracts.envelope import new_envelope
from contracts.events.evaluation import EvaluationMarker
from contracts.events.tool import ToolRequested, ToolStatus
from contracts.types import StepRef

REFUND = ToolDefinition(
    name="payments.refund",
    version="1",
    side_effect=SideEffect.WRITE,
    timeout_s=5,
    arguments_schema={"type": "object"},
    implementation=Implementation(kind="builtin", name="http.request"),
)


def request(fixtures: dict[str, object]) -> ToolRequested:
    return ToolRequested(
        step=StepRef(run_id="run-1", step_id="refund"),
        tool="payments.refund",
        arguments={"json": {"order_id": "A-1", "amount": 10}},
        idempotency_key="k-1",
        evaluation=EvaluationMarker(evaluation_id="ev-1", case_id="c-1", fixtures=fixtures),
    )


def replies(
    tool_request: ToolRequested,
) -> tuple[ToolStatus, object, str | None, dict[str, object]]:
    plan = _evaluation_plan(tool_request, REFUND)
    assert plan.call is None  # nothing to execute: no side effect can happen
    envelope = new_envelope(tool_request, source="planner", tenant_id="acme", run_id="run-1")
    reply, audit = completed_envelopes(envelope, plan, None, service="tool-executor")
    code = reply.data.error.code if reply.data.error else None
    return reply.data.status, reply.data.result, code, audit.data.details


def test_a_fixture_answers_the_write_tool() -> None:
    fixture = {"status": 200, "body": {"refund_id": "re_fixture"}}
    status, result, code, details = replies(request({"payments.refund": fixture}))
    assert (status, result, code) == (ToolStatus.SUCCEEDED, fixture, None)
    assert details["evaluation_id"] == "ev-1"


def test_without_a_fixture_the_write_tool_is_refused() -> None:
    status, result, code, details = replies(request({"other.tool": {}}))
    assert (status, result, code) == (ToolStatus.DENIED, None, "tool.evaluation_refused")
    assert details["decision"] == "denied"
