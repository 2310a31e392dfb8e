"""Consumers: a new request, a withdrawn request, a timer that fired."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from agentbus.bus import PermanentError
from agentbus.storage import UnitOfWork
from agentbus.storage.tables import utcnow
from contracts.audit import service_actor
from contracts.envelope import Envelope
from contracts.events.approval import (
    ApprovalCancelRequested,
    ApprovalDeadlineReached,
    ApprovalRequested,
    ExpiryAction,
    TimerKind,
)

from .domain import Escalate, ExpiryRule, Status, canonical_hash, on_deadline
from .events import SERVICE, audit
from .outcomes import Outcomes, deadline_after
from .store import ApprovalRepository
from .tables import ApprovalRow
from .views import policy_of

__all__ = ["Handlers"]

log = logging.getLogger("approval.handlers")


class Handlers:
    """The approval service's event handlers, bound to its outcome rules."""

    def __init__(self, outcomes: Outcomes) -> None:
        self.outcomes = outcomes

    async def on_request(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        """Dispatch one record of approval.requests by its type."""
        data = envelope.data
        if isinstance(data, ApprovalRequested):
            await self.requested(envelope, data, uow)
        elif isinstance(data, ApprovalCancelRequested):
            await self.cancel_requested(data, uow)
        elif isinstance(data, ApprovalDeadlineReached):
            await self.deadline_reached(data, uow)
        else:  # the bus filters by the catalogue's types, so this is a contract bug
            raise PermanentError(f"approval cannot handle {envelope.type}")

    async def requested(
        self, envelope: Envelope[Any], data: ApprovalRequested, uow: UnitOfWork
    ) -> None:
        """Store a new request, set its deadline timer, notify and audit."""
        repo = ApprovalRepository(uow)
        if await repo.by_request(envelope.id) is not None:
            return  # the same request re-sent under a new consumer group position
        computed = canonical_hash(data.payload if data.payload is not None else data.details)
        on_expiry = data.on_expiry or (
            ExpiryAction.ESCALATE if data.escalation_roles else ExpiryAction.REJECT
        )
        if on_expiry is ExpiryAction.ESCALATE and not data.escalation_roles:
            raise PermanentError("on_expiry=escalate needs escalation_roles")
        row = ApprovalRow(
            id=f"apr_{uuid.uuid4().hex}",
            tenant_id=uow.tenant_id,
            request_id=envelope.id,
            run_id=data.step.run_id,
            step_id=data.step.step_id,
            attempt=data.step.attempt,
            subject=data.subject,
            details=data.details,
            payload=data.payload,
            payload_sha256=data.payload_sha256 or computed,
            required_approvals=data.required_approvals,
            rejections_needed=data.rejections_needed,
            roles=list(data.roles),
            escalation_roles=list(data.escalation_roles),
            on_expiry=ExpiryRule(on_expiry.value).value,
            escalation_window_s=deadline_after(envelope.time, data.deadline).total_seconds(),
            escalation_deadline=data.escalation_deadline,
            requested_by_kind=data.requested_by.kind.value,
            requested_by=data.requested_by.id,
            status=Status.PENDING.value,
            deadline=data.deadline,
            traceparent=envelope.traceparent,
        )
        repo.add(row)
        await uow.session.flush()
        self.outcomes.schedule_deadline(uow, row)
        await self.outcomes.notify(uow, row, "approval.requested")
        self.outcomes.audit(
            uow,
            audit(
                row,
                "approval.request",
                actor=service_actor(SERVICE),
                event_id=f"{row.id}:audit:requested",
                details={
                    "required_approvals": row.required_approvals,
                    "roles": row.roles,
                    "deadline": row.deadline.isoformat(),
                },
            ),
        )

    async def cancel_requested(self, data: ApprovalCancelRequested, uow: UnitOfWork) -> None:
        """Withdraw a pending request; a final one keeps its outcome."""
        row = await ApprovalRepository(uow).by_request(data.request_id)
        if row is None:
            log.warning(
                "cancel for an unknown approval request",
                extra={"fields": {"request_id": data.request_id}},
            )
            return
        await self.outcomes.finish(uow, row, Status.CANCELLED, deciders=[], reason=data.reason)

    async def deadline_reached(self, data: ApprovalDeadlineReached, uow: UnitOfWork) -> None:
        """Warn, escalate or end a request whose deadline passed; stale timers do nothing."""
        repo = ApprovalRepository(uow)
        row = await repo.lock(data.approval_id)
        if row is None or row.status != Status.PENDING.value or row.level != data.level:
            return
        if data.kind is TimerKind.WARNING:
            await self.outcomes.notify(uow, row, "approval.expiring")
            return
        action = on_deadline(policy_of(row), row.level, utcnow())
        if isinstance(action, Escalate):
            await repo.escalate(row.id, from_level=row.level, deadline=action.deadline)
            await uow.session.refresh(row)
            self.outcomes.schedule_deadline(uow, row)
            await self.outcomes.notify(uow, row, "approval.escalated")
            self.outcomes.audit(
                uow,
                audit(
                    row,
                    "approval.escalate",
                    actor=service_actor(SERVICE),
                    event_id=f"{row.id}:audit:escalated:{row.level}",
                    details={
                        "level": row.level,
                        "roles": sorted(set(row.roles) | set(row.escalation_roles)),
                        "deadline": action.deadline.isoformat(),
                    },
                ),
            )
            return
        await self.outcomes.finish(uow, row, action.outcome, deciders=[], reason=action.reason)
