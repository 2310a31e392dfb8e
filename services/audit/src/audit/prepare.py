"""A replay's per-record half that needs no order: check, parse and canonicalise records.

Workers run it on their partitions; a single-process replay runs it on the merged list.
What depends on the order across partitions (sequence numbers, hashes) is in `linking`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from contracts.events.audit import AuditRecorded

from .chain import entry_parts
from .domain import AUDIT_EVENT_TYPE, IndexedFields, indexed_fields, with_trace_id

__all__ = ["Payload", "Prepared", "RejectedRecordError", "ReplayFilter", "parse", "prepare"]

_TYPE = AUDIT_EVENT_TYPE.encode()
_TRACE = "ce_traceparent"
_REQUIRED = frozenset(("actor", "action", "resource_type", "resource_id", "outcome", "occurred_at"))

# (tenant, event id, time, entry before seq, entry after seq, query fields)
Payload = tuple[str, str, str, bytes, bytes, IndexedFields | None]
# (timestamp, partition, payload): payload is None for a record the filter skipped or
# the checks rejected; it still takes part in the workers' merge, which decides the order.
Prepared = tuple[int, int, Payload | None]


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which records to keep, besides the time window."""

    tenant_id: str | None = None
    run_id: str | None = None
    strict: bool = False


class RejectedRecordError(ValueError):
    """A record on the audit topic that the audit service would not accept."""


def parse(
    record: ConsumerRecord[Any, Any], headers: dict[str, bytes], strict: bool
) -> tuple[str, str, str, str | None, str, dict[str, Any]]:
    """(tenant, event id, source, run id, time, data) of one record, else RejectedRecordError.

    A structural check by default (CloudEvents headers, a JSON object with the required
    fields); `strict` validates the data against the AuditRecorded contract as well.
    """
    if headers.get("ce_type") != _TYPE or headers.get("ce_specversion") != b"1.0":
        raise RejectedRecordError(f"offset {record.offset}: not an {AUDIT_EVENT_TYPE} CloudEvent")
    event_id, source = headers.get("ce_id"), headers.get("ce_source")
    tenant = headers.get("ce_tenantid")
    if not event_id or not source or not tenant:
        raise RejectedRecordError(f"offset {record.offset}: missing ce_id, ce_source or tenant")
    try:
        data = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        raise RejectedRecordError(f"offset {record.offset}: value is not JSON") from exc
    if type(data) is not dict or not data.keys() >= _REQUIRED:
        raise RejectedRecordError(f"offset {record.offset}: not an audit record")
    if strict:
        try:
            AuditRecorded.model_validate(data)
        except ValidationError as exc:
            raise RejectedRecordError(
                f"offset {record.offset}: {exc.error_count()} errors"
            ) from exc
    raw_time, run, trace = headers.get("ce_time"), headers.get("ce_runid"), headers.get(_TRACE)
    if trace is not None and data.get("trace_id") is None:
        with_trace_id(data, trace.decode())
    return (
        tenant.decode(),
        event_id.decode(),
        source.decode(),
        run.decode() if run else None,
        _normal_time(raw_time.decode()) if raw_time else _kafka_time(record.timestamp),
        data,
    )


def _normal_time(text: str) -> str:
    """The time as the live consumer writes it: parsed, then `isoformat()`."""
    # Contract producers already send isoformat() in UTC; parsing it again would be the
    # costliest step of a replay, so only other shapes are parsed and rewritten.
    if text.endswith("+00:00") and (len(text) == 25 or (len(text) == 32 and text[19] == ".")):
        return text
    return datetime.fromisoformat(text).isoformat()


def _kafka_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def prepare(
    records: list[ConsumerRecord[Any, Any]], where: ReplayFilter, with_fields: bool
) -> tuple[list[Prepared], int, list[str]]:
    """Filter, check and canonicalise records (before linking).

    Every record yields an item (None as payload when skipped or rejected): the merge
    of the workers' streams needs each record's place. Also the rejected count and the
    first reasons.
    """
    tenant = where.tenant_id.encode() if where.tenant_id else None
    run = where.run_id.encode() if where.run_id else None
    strict, event_type = where.strict, AUDIT_EVENT_TYPE
    items: list[Prepared] = []
    rejected = 0
    reasons: list[str] = []
    for record in records:
        key = (record.timestamp, record.partition)
        headers = dict(record.headers)
        if (tenant is not None and headers.get("ce_tenantid") != tenant) or (
            run is not None and headers.get("ce_runid") != run
        ):
            items.append((*key, None))
            continue
        try:
            owner, event_id, source, run_id, when, data = parse(record, headers, strict)
        except RejectedRecordError as exc:
            rejected += 1
            if len(reasons) < 20:
                reasons.append(str(exc))
            items.append((*key, None))
            continue
        head, tail = entry_parts(owner, event_id, event_type, source, when, run_id, data)
        fields = indexed_fields(data, run_id) if with_fields else None
        items.append((*key, (owner, event_id, when, head, tail, fields)))
    return items, rejected, reasons
