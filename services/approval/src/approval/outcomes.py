"""State changes shared by consumers and the API: ending a request, notifying, timers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agentbus.storage import UnitOfWork
from agentbus.storage.tables import utcnow
from contracts.audit import service_actor
from contracts.envelope import Envelope
from contracts.events.approval import TimerKind
from contracts.events.audit import AuditRecorded
from contracts.types import Actor

from .domain import Status
from .events import SERVICE, audit, deadline_timer, decided, webhook_body
from .metrics import ApprovalMetrics
from .store import ApprovalRepository
from .tables import ApprovalRow, WebhookDelivery

__all__ = ["Outcomes"]

log = logging.getLogger("approval")

_AUDIT_ACTIONS = {
    Status.APPROVED: "approval.approve",
    Status.REJECTED: "approval.reject",
    Status.EXPIRED: "approval.expire",
    Status.CANCELLED: "approval.withdraw",
}


@dataclass(frozen=True)
class Outcomes:
    """What every path that changes a request does besides the change itself."""

    webhook_tenants: frozenset[str]
    expiry_warning: timedelta
    requests_topic: str = "approval.requests"
    decisions_topic: str = "approval.decisions"
    audit_topic: str = "audit.log"
    metrics: ApprovalMetrics = field(default_factory=ApprovalMetrics.create)

    def audit(self, uow: UnitOfWork, envelope: Envelope[AuditRecorded]) -> None:
        """Queue an audit record in the outbox."""
        uow.publish(envelope, topic=self.audit_topic)

    async def finish(
        self,
        uow: UnitOfWork,
        row: ApprovalRow,
        status: Status,
        *,
        deciders: list[str],
        reason: str | None,
        actor: Actor | None = None,
    ) -> bool:
        """End a pending request once: its decision event, audit record, timers cancelled."""
        at = utcnow()
        if not await ApprovalRepository(uow).finish(row.id, status, reason=reason, at=at):
            return False
        row.status, row.reason, row.decided_at = status.value, reason, at
        tags = {"tenant": row.tenant_id, "outcome": status.value}
        self.metrics.decisions.add(1, tags)
        self.metrics.time_to_decision.record((at - row.created_at).total_seconds(), tags)
        log.info(
            "approval final",
            extra={
                "fields": {"approval_id": row.id, "run_id": row.run_id, "outcome": status.value}
            },
        )
        uow.publish(
            decided(row, status, deciders=deciders, reason=reason, at=at),
            topic=self.decisions_topic,
        )
        self.audit(
            uow,
            audit(
                row,
                _AUDIT_ACTIONS[status],
                actor=actor or service_actor(SERVICE),
                event_id=f"{row.id}:audit:decided",
                status=status,
                approvers=deciders,
                details={"reason": reason} if reason else None,
            ),
        )
        await self.cancel_timers(uow, row)
        await self.notify(uow, row, f"approval.{status.value}")
        return True

    def schedule_deadline(self, uow: UnitOfWork, row: ApprovalRow) -> None:
        """The runtime's durable timers for the current deadline (and its warning)."""
        level, deadline = row.level, row.deadline
        envelope = deadline_timer(row, TimerKind.DEADLINE, level=level, deadline=deadline)
        uow.schedule(
            envelope,
            at=deadline,
            timer_id=_timer_id(row, TimerKind.DEADLINE),
            topic=self.requests_topic,
        )
        warn_at = deadline - self.expiry_warning
        if self.expiry_warning and warn_at > utcnow():
            warning = deadline_timer(row, TimerKind.WARNING, level=level, deadline=deadline)
            uow.schedule(
                warning,
                at=warn_at,
                timer_id=_timer_id(row, TimerKind.WARNING),
                topic=self.requests_topic,
            )

    async def cancel_timers(self, uow: UnitOfWork, row: ApprovalRow) -> None:
        """Cancel the timers of the request's current level."""
        for kind in TimerKind:
            await uow.cancel_timer(_timer_id(row, kind))

    async def notify(self, uow: UnitOfWork, row: ApprovalRow, kind: str) -> None:
        """Queue a webhook for the tenant (sent later by the sender; never blocks this)."""
        if row.tenant_id not in self.webhook_tenants:
            return
        event_id = f"{row.id}:{kind}:{row.level}"
        uow.session.add(
            WebhookDelivery(
                event_id=event_id,
                tenant_id=row.tenant_id,
                kind=kind,
                body=webhook_body(row, kind, event_id=event_id, at=utcnow()),
            )
        )


def _timer_id(row: ApprovalRow, kind: TimerKind) -> str:
    return f"{row.id}:{kind.value}:{row.level}"


def deadline_after(created: datetime, deadline: datetime) -> timedelta:
    """The first wait, reused as the escalation window when the policy names none."""
    return max(deadline - created, timedelta(seconds=1))
