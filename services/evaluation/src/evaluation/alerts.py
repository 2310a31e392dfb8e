"""Publishing an alert's change: the event (and its webhook) and the audit record of it."""

from __future__ import annotations

from agentbus.storage import UnitOfWork
from contracts.audit import record, service_actor
from contracts.envelope import new_envelope
from contracts.events.evaluation import AlertRaised, AlertResolved

from .evaluations import SOURCE, Topics

__all__ = ["publish_alert"]


def publish_alert(uow: UnitOfWork, topics: Topics, event: AlertRaised | AlertResolved) -> None:
    """Raising or resolving an alert is a decision: the event and an audit record, one tx."""
    envelope = new_envelope(event, source=SOURCE, tenant_id=uow.tenant_id)
    uow.publish(envelope, topic=topics("evaluations.events"))
    raised = isinstance(event, AlertRaised)
    uow.publish(
        record(
            source=SOURCE,
            tenant_id=uow.tenant_id,
            actor=service_actor(SOURCE),
            action="alert.raise" if raised else "alert.resolve",
            resource_type="alert_rule",
            resource_id=event.rule,
            outcome="succeeded",
            event_id=f"{envelope.id}:audit",
            details={
                "metric": event.metric,
                "workflow": event.workflow,
                "version": event.version,
                "value": event.value,
                "threshold": event.threshold,
            },
        ),
        topic=topics("audit.log"),
    )
