"""Learning approvals from the approval topics, so a request's approval can be verified.

The binding convention: the planner puts `tool` and `arguments_sha256` (see
`contracts.events.tool.arguments_sha256`) into `ApprovalRequested.details`, so approvers
approve those exact arguments; a `ToolRequested.approval` then names the approval id and
repeats the hash, and the executor checks all three agree.
"""

from __future__ import annotations

import re
from typing import Any

from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope
from contracts.events.approval import ApprovalDecided, ApprovalRequested

from .repositories import ApprovalRepository

__all__ = ["on_approval_decided", "on_approval_requested"]

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


async def on_approval_requested(envelope: Envelope[Any], uow: UnitOfWork) -> None:
    """Remember which tool call (by arguments hash) an approval request covers."""
    request: ApprovalRequested = envelope.data
    digest = request.details.get("arguments_sha256")
    tool = request.details.get("tool")
    await ApprovalRepository(uow).requested(
        envelope.id,
        run_id=request.step.run_id,
        step_id=request.step.step_id,
        tool=tool if isinstance(tool, str) else None,
        digest=digest if isinstance(digest, str) and _HASH.match(digest) else None,
    )


async def on_approval_decided(envelope: Envelope[Any], uow: UnitOfWork) -> None:
    """Remember the final outcome under the approval's id."""
    decision: ApprovalDecided = envelope.data
    await ApprovalRepository(uow).decided(
        decision.request_id,
        approval_id=decision.approval_id,
        outcome=decision.outcome.value,
        run_id=decision.step.run_id,
        step_id=decision.step.step_id,
    )
