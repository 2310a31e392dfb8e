"""Learning approvals from the approval topics, so a request's approval can be verified.

The binding: an approval for a tool call has the call's arguments as its payload, so its
`payload_sha256` (the approval service's canonical JSON hash) equals
`contracts.events.tool.arguments_sha256(arguments)`. `ApprovalDecided.payload_sha256` says
which payload the outcome applies to; older producers may instead put `arguments_sha256`
into `ApprovalRequested.details`. A `ToolRequested.approval` names the approval id and
repeats the hash, and the executor checks that request, approval and arguments agree.
"""

from __future__ import annotations

import re
from typing import Any

from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope
from contracts.events.approval import ApprovalDecided, ApprovalRequested
from contracts.events.tool import arguments_sha256

from .repositories import ApprovalRepository

__all__ = ["on_approval_decided", "on_approval_requested"]

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


async def on_approval_requested(envelope: Envelope[Any], uow: UnitOfWork) -> None:
    """Remember which tool call (by arguments hash) an approval request covers."""
    request: ApprovalRequested = envelope.data
    digest = request.payload_sha256
    if digest is None and request.payload is not None:
        digest = arguments_sha256(request.payload)
    if digest is None:
        digest = _hash_or_none(request.details.get("arguments_sha256"))
    tool = request.details.get("tool")
    await ApprovalRepository(uow).requested(
        envelope.id,
        run_id=request.step.run_id,
        step_id=request.step.step_id,
        tool=tool if isinstance(tool, str) else None,
        digest=digest,
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
        digest=decision.payload_sha256,
    )


def _hash_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and _HASH.match(value) else None
