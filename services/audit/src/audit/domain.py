"""What the audit trail stores about one record: its chain entry and its indexed fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.events.audit import AuditRecorded

from .chain import entry

__all__ = [
    "AUDIT_EVENT_TYPE",
    "IndexedFields",
    "entry_data",
    "entry_from_envelope",
    "indexed_fields",
    "with_trace_id",
]

AUDIT_EVENT_TYPE = AuditRecorded.EVENT_TYPE
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_NO_TRACE = "0" * 32


@dataclass(frozen=True, slots=True)
class IndexedFields:
    """Columns the query API filters on, copied out of the hashed entry."""

    run_id: str | None
    step_id: str | None
    action: str
    resource_type: str
    outcome: str
    occurred_at: datetime


def entry_data(envelope: Envelope[AuditRecorded]) -> dict[str, Any]:
    """The record's JSON data as the chain entry holds it (with the envelope's trace id)."""
    return with_trace_id(envelope.data.model_dump(mode="json"), envelope.traceparent)


def entry_from_envelope(envelope: Envelope[AuditRecorded], seq: int, data: dict[str, Any]) -> bytes:
    """The chain entry (JCS) of a validated audit envelope at position `seq`, whose data
    is `entry_data(envelope)` (dumped once per record: the query columns read it too)."""
    return entry(
        seq=seq,
        tenant_id=envelope.tenantid,
        event_id=envelope.id,
        event_type=envelope.type,
        source=envelope.source,
        time=envelope.time.isoformat(),
        run_id=envelope.runid,
        data=data,
    )


def with_trace_id(data: dict[str, Any], traceparent: str | None) -> dict[str, Any]:
    """`data`, its `trace_id` filled from the envelope's W3C traceparent when it has none."""
    # A producer that built its record outside a span (or before the bus stamped the
    # envelope) leaves trace_id empty; the envelope's trace context names the same trace.
    # The live consumer and a replay both apply this, so their entries stay identical.
    if traceparent and data.get("trace_id") is None:
        found = _TRACEPARENT.match(traceparent)
        if found is not None and found[1] != _NO_TRACE:
            data["trace_id"] = found[1]
    return data


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
