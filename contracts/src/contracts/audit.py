"""Build audit record envelopes: one pure constructor every service calls.

```python
from contracts.audit import digest, record

uow.publish(
    record(
        source="tool-executor", tenant_id=uow.tenant_id, actor=SERVICE,
        action="tool.invoke", resource_type="tool", resource_id="crm.lookup",
        outcome="succeeded", step=request.step, traceparent=envelope.traceparent,
        tool=ToolUse(name="crm.lookup", version="1.0.0"), output=digest(raw_output),
        event_id=f"{envelope.id}:audit",
    )
)
```
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from .envelope import Envelope, new_envelope
from .events.audit import AuditOutcome, AuditRecorded, ContentDigest
from .types import Actor, ActorKind, StepRef

__all__ = ["digest", "record", "service_actor", "trace_id_of", "with_trace_id"]

_MASKED_LIMIT = 4000


def service_actor(service: str) -> Actor:
    """The actor for a service acting on its own."""
    return Actor(kind=ActorKind.SERVICE, id=service)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id inside a W3C traceparent (`00-<trace>-<span>-<flags>`), else None."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def with_trace_id(envelope: Envelope[Any]) -> Envelope[Any]:
    """`envelope`; an audit record without a trace id takes its envelope's traceparent's.

    The bus calls this when it encodes an outbox envelope (after stamping the handler's
    trace), so a record built without `traceparent` still names the run's trace.
    """
    data = envelope.data
    if type(data) is not AuditRecorded or data.trace_id is not None:
        return envelope
    trace_id = trace_id_of(envelope.traceparent)
    if trace_id is None or trace_id == "0" * 32:
        return envelope
    return envelope.model_copy(update={"data": data.model_copy(update={"trace_id": trace_id})})


def digest(raw: str | bytes, *, masked: str | None = None) -> ContentDigest:
    """A content digest: the sha256 of `raw` and, if given, its masked text (cut to 4,000)."""
    data = raw.encode() if isinstance(raw, str) else raw
    text = masked[:_MASKED_LIMIT] if masked is not None else None
    length = len(raw) if isinstance(raw, str) else len(data)
    return ContentDigest(
        masked=text, sha256="sha256:" + hashlib.sha256(data).hexdigest(), length=length
    )


def record(
    *,
    source: str,
    tenant_id: str,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str,
    outcome: AuditOutcome | str,
    step: StepRef | None = None,
    run_id: str | None = None,
    traceparent: str | None = None,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    **fields: Any,
) -> Envelope[AuditRecorded]:
    """An `AuditRecorded` envelope; run id from `step`, trace id from `traceparent`.

    `fields` are the optional typed fields of `AuditRecorded` (workflow, model, tool,
    guardrail, approval, cost_usd, usage, prompt, output, details, ...). Pass a stable
    `event_id` (e.g. `f"{cause.id}:audit"`) so a redelivered cause yields the same record.
    """
    when = occurred_at or datetime.now(UTC)
    fields.setdefault("trace_id", trace_id_of(traceparent))
    data = AuditRecorded(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=AuditOutcome(outcome),
        occurred_at=when,
        step=step,
        **fields,
    )
    return new_envelope(
        data,
        source=source,
        tenant_id=tenant_id,
        run_id=run_id or (step.run_id if step else None),
        event_id=event_id,
        traceparent=traceparent,
        time=when,
    )
