"""A "needs approval" tool runs only with an approval bound to its exact arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tool_executor.approvals import on_approval_decided, on_approval_requested
from tool_executor.domain import Grant

from agentbus.bus import TransientError
from contracts.envelope import new_envelope
from contracts.events.approval import ApprovalDecided, ApprovalOutcome, ApprovalRequested
from contracts.events.tool import ToolApproval, ToolStatus, arguments_sha256
from contracts.types import Actor, ActorKind, StepRef

pytestmark = pytest.mark.integration


async def approve(
    harness: Any, run_id: str, arguments: dict[str, Any], approval_id: str, outcome: str
) -> None:
    step = StepRef(run_id=run_id, step_id="pay")
    asked = new_envelope(
        ApprovalRequested(
            step=step,
            subject="Send a payment",
            details={"tool": "payments.send"},
            # The approval service's convention: approvers see the payload, the decision
            # names its hash; for a tool call the payload is the call's arguments.
            payload=arguments,
            deadline=datetime.now(UTC) + timedelta(hours=1),
            requested_by=Actor(kind=ActorKind.USER, id="u1"),
        ),
        source="planner",
        tenant_id="acme",
        run_id=run_id,
    )
    decided = new_envelope(
        ApprovalDecided(
            step=step,
            request_id=asked.id,
            approval_id=approval_id,
            outcome=ApprovalOutcome(outcome),
            decided_by=[Actor(kind=ActorKind.USER, id="boss")],
            decided_at=datetime.now(UTC),
            payload_sha256=arguments_sha256(arguments),
        ),
        source="approval",
        tenant_id="acme",
        run_id=run_id,
    )
    # Decisions may arrive before their requests (two topics): both orders must work.
    for envelope, handler in ((decided, on_approval_decided), (asked, on_approval_requested)):
        async with harness.service.bus.uow("acme") as uow:
            await handler(envelope, uow)
            await uow.commit()


async def test_needs_approval_runs_only_with_a_matching_approval(
    harness: Any, counting_server: Any
) -> None:
    await harness.define(harness.http_tool("payments.send", needs_approval=True))
    await harness.grant(
        "acme",
        Grant(
            tool="payments.send",
            scopes=["crm:write"],
            hosts=["127.0.0.1"],
            allowed_networks=["127.0.0.1/32"],
        ),
    )
    approved_args = {"url": f"{counting_server.url}/pay", "method": "POST", "json": {"eur": 10}}
    other_args = {"url": f"{counting_server.url}/pay", "method": "POST", "json": {"eur": 9999}}

    def request(arguments: dict[str, Any], approval: ToolApproval | None) -> Any:
        envelope = harness.request("payments.send", arguments, approval=approval)
        return envelope.model_copy(
            update={
                "runid": "run-pay",
                "data": envelope.data.model_copy(
                    update={"step": StepRef(run_id="run-pay", step_id="pay")}
                ),
            }
        )

    none, _ = await harness.run(request(approved_args, None))
    assert (none.status, none.error.code) == (ToolStatus.DENIED, "tool.approval_missing")

    await approve(harness, "run-pay", approved_args, "apr-1", "approved")
    # An approval for other arguments, whether the request claims their hash or not.
    for claimed in (arguments_sha256(other_args), arguments_sha256(approved_args)):
        wrong, audit = await harness.run(
            request(other_args, ToolApproval(approval_id="apr-1", arguments_sha256=claimed))
        )
        assert (wrong.status, wrong.error.code) == (ToolStatus.DENIED, "tool.approval_mismatch")
        assert audit.details["decision"] == "denied"
    assert counting_server.requests == []

    good = ToolApproval(approval_id="apr-1", arguments_sha256=arguments_sha256(approved_args))
    ok, _ = await harness.run(request(approved_args, good))
    assert ok.status is ToolStatus.SUCCEEDED
    assert counting_server.hits("/pay") == 1

    await approve(harness, "run-pay", approved_args, "apr-2", "rejected")
    rejected = ToolApproval(approval_id="apr-2", arguments_sha256=arguments_sha256(approved_args))
    no, _ = await harness.run(request(approved_args, rejected))
    assert (no.status, no.error.code) == (ToolStatus.DENIED, "tool.approval_not_granted")

    # An approval of another run does not carry over.
    await approve(harness, "run-other", approved_args, "apr-3", "approved")
    foreign = ToolApproval(approval_id="apr-3", arguments_sha256=arguments_sha256(approved_args))
    elsewhere, _ = await harness.run(request(approved_args, foreign))
    assert elsewhere.error.code == "tool.approval_mismatch"
    assert counting_server.hits("/pay") == 1


async def test_an_unknown_approval_is_transient(harness: Any, counting_server: Any) -> None:
    await harness.define(harness.http_tool("payments.send", needs_approval=True))
    await harness.grant("acme", Grant(tool="payments.send", scopes=["crm:write"]))
    arguments = {"url": f"{counting_server.url}/pay"}
    approval = ToolApproval(approval_id="apr-404", arguments_sha256=arguments_sha256(arguments))
    with pytest.raises(TransientError, match="apr-404"):
        await harness.run(harness.request("payments.send", arguments, approval=approval))
    assert counting_server.requests == []
