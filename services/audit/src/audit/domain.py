"""What the audit trail stores about one record: its chain entry and its indexed fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.events.audit import AuditRecorded

from .chain import entry

__all__ = ["AUDIT_EVENT_TYPE", "IndexedFields", "entry_from_envelope", "indexed_fields"]

AUDIT_EVENT_TYPE = AuditRecorded.EVENT_TYPE


@dataclass(frozen=True, slots=True)
class IndexedFields:
    """Columns the query API filters on, copied out of the hashed entry."""

    run_id: str | None
    step_id: str | None
    action: str
    resource_type: str
    outcome: str
    occurred_at: datetime


def entry_from_envelope(envelope: Envelope[AuditRecorded], seq: int) -> bytes:
    """The chain entry (JCS) of a validated audit envelope at position `seq`."""
    return entry(
        seq=seq,
        tenant_id=envelope.tenantid,
        event_id=envelope.id,
        event_type=envelope.type,
        source=envelope.source,
        time=envelope.time.isoformat(),
        run_id=envelope.runid,
        data=envelope.data.model_dump(mode="json"),
    )


def indexed_fields(data: Mapping[str, Any], run_id: str | None) -> IndexedFields:
    """Query columns from an audit record's JSON data (the run id from the envelope first)."""
    step = data.get("step") or {}
    return IndexedFields(
        run_id=run_id or step.get("run_id"),
        step_id=step.get("step_id"),
        action=data["action"],
        resource_type=data["resource_type"],
        outcome=data["outcome"],
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
    )
