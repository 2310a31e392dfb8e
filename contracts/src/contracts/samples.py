"""Valid sample payloads for every event type, for tests across the repository."""

from __future__ import annotations

import copy
import hashlib
from typing import Any, TypeVar

from .base import Event
from .registry import all_events, model_for

__all__ = [
    "SAMPLE_RUN_ID",
    "SAMPLE_TASK_ID",
    "SAMPLE_TENANT_ID",
    "all_samples",
    "sample",
    "sample_for",
    "sample_payload",
]

E = TypeVar("E", bound=Event)

SAMPLE_TENANT_ID = "tenant-acme"
SAMPLE_TASK_ID = "task-0001"
SAMPLE_RUN_ID = "run-0001"
_T0, _T1 = "2025-01-01T12:00:00Z", "2025-01-01T12:00:02.500000Z"
_REQUEST_ID = "evt-request-0001"
_WORKFLOW = {
    "name": "invoice-triage",
    "version": "1",
    "content_hash": "sha256:" + hashlib.sha256(b"invoice-triage@1").hexdigest(),
}
_STEP = {"run_id": SAMPLE_RUN_ID, "step_id": "classify", "attempt": 1}
_USER = {"kind": "user", "id": "alice"}
_SERVICE = {"kind": "service", "id": "planner"}
_TIMINGS = {"started_at": _T0, "finished_at": _T1, "duration_ms": 2500}
_ERROR = {
    "code": "tool.timeout",
    "message": "crm.lookup timed out after 5000 ms",
    "retryable": True,
}
_DEFINITION = {**_WORKFLOW, "actor": _USER, "occurred_at": _T0}
_RUN = {"run_id": SAMPLE_RUN_ID, "task_id": SAMPLE_TASK_ID, "workflow": _WORKFLOW}
_STEP_EVENT = {"step": _STEP, "kind": "model", "workflow": _WORKFLOW}
_USAGE = {"prompt_tokens": 120, "completion_tokens": 30}
_MESSAGES = [
    {"role": "system", "content": "Classify the invoice."},
    {"role": "user", "content": "Invoice 42 from ACME, total 120.00 EUR"},
]

_PAYLOADS: dict[str, dict[str, Any]] = {
    "agentbus.task.submitted.v1": {
        "task_id": SAMPLE_TASK_ID,
        "workflow": "invoice-triage",
        "input": {"invoice_id": "42"},
        "requested_by": _USER,
    },
    "agentbus.task.completed.v1": {
        "task_id": SAMPLE_TASK_ID,
        "run_id": SAMPLE_RUN_ID,
        "workflow": _WORKFLOW,
        "output": {"category": "utilities"},
        "timings": _TIMINGS,
    },
    "agentbus.task.failed.v1": {
        "task_id": SAMPLE_TASK_ID,
        "run_id": SAMPLE_RUN_ID,
        "error": _ERROR,
        "failed_step": "classify",
        "timings": _TIMINGS,
    },
    "agentbus.run.started.v1": _RUN,
    "agentbus.run.completed.v1": {**_RUN, "output": {"category": "utilities"}, "timings": _TIMINGS},
    "agentbus.run.failed.v1": {**_RUN, "error": _ERROR, "timings": _TIMINGS},
    "agentbus.run.cancelled.v1": {**_RUN, "reason": "no longer needed", "cancelled_by": _USER},
    "agentbus.run.step_scheduled.v1": {**_STEP_EVENT, "request_id": _REQUEST_ID},
    "agentbus.run.step_completed.v1": {**_STEP_EVENT, "duration_ms": 850},
    "agentbus.run.step_failed.v1": {**_STEP_EVENT, "error": _ERROR, "duration_ms": 5000},
    "agentbus.run.step_retrying.v1": {
        **_STEP_EVENT,
        "error": _ERROR,
        "next_attempt": 2,
        "retry_at": _T1,
    },
    "agentbus.run.step_skipped.v1": {**_STEP_EVENT, "reason": "condition amount > 1000 is false"},
    "agentbus.run.timer_fired.v1": {
        "step": _STEP,
        "purpose": "timeout",
        "due_at": "2026-01-01T00:00:30+00:00",
    },
    "agentbus.guardrail.check_requested.v1": {
        "step": _STEP,
        "direction": "input",
        "content": "Contact alice@example.com about invoice 42",
    },
    "agentbus.guardrail.verdict.v1": {
        "step": _STEP,
        "request_id": _REQUEST_ID,
        "direction": "input",
        "decision": "mask",
        "findings": [{"kind": "pii.email", "start": 8, "end": 25, "score": 0.99, "rule": "email"}],
        "masked_content": "Contact [EMAIL] about invoice 42",
        "policy_name": "default",
        "policy_version": "1",
    },
    "agentbus.model.requested.v1": {
        "step": _STEP,
        "alias": "default",
        "messages": _MESSAGES,
        "parameters": {"temperature": 0.0, "max_tokens": 256},
    },
    "agentbus.model.responded.v1": {
        "step": _STEP,
        "request_id": _REQUEST_ID,
        "alias": "default",
        "provider": "local",
        "model": "echo-1",
        "content": "utilities",
        "finish_reason": "stop",
        "usage": _USAGE,
        "cost_usd": "0.000150",
        "latency_ms": 42,
    },
    "agentbus.tool.requested.v1": {
        "step": _STEP,
        "tool": "crm.lookup",
        "version": "1.0.0",
        "arguments": {"customer": "ACME"},
        "idempotency_key": f"{SAMPLE_RUN_ID}:classify",
    },
    "agentbus.tool.completed.v1": {
        "step": _STEP,
        "request_id": _REQUEST_ID,
        "tool": "crm.lookup",
        "version": "1.0.0",
        "status": "succeeded",
        "result": {"customer_id": "c-7"},
        "duration_ms": 120,
    },
    "agentbus.approval.requested.v1": {
        "step": _STEP,
        "subject": "Pay invoice 42 (120.00 EUR)",
        "details": {"invoice_id": "42"},
        "roles": ["finance"],
        "deadline": "2025-01-02T12:00:00Z",
        "requested_by": _USER,
    },
    "agentbus.approval.decided.v1": {
        "step": _STEP,
        "request_id": _REQUEST_ID,
        "approval_id": "apr-0001",
        "outcome": "approved",
        "decided_by": [{"kind": "user", "id": "bob"}],
        "decided_at": _T1,
    },
    "agentbus.audit.recorded.v1": {
        "actor": _SERVICE,
        "action": "run.start",
        "resource_type": "run",
        "resource_id": SAMPLE_RUN_ID,
        "outcome": "succeeded",
        "occurred_at": _T0,
    },
    "agentbus.task.cancel_requested.v1": {
        "task_id": SAMPLE_TASK_ID,
        "run_id": SAMPLE_RUN_ID,
        "reason": "duplicate submission",
        "requested_by": _USER,
    },
    "agentbus.approval.cancel_requested.v1": {
        "step": _STEP,
        "request_id": _REQUEST_ID,
        "reason": "run cancelled",
    },
    "agentbus.approval.deadline_reached.v1": {
        "approval_id": "apr-0001",
        "step": _STEP,
        "kind": "deadline",
        "level": 0,
        "deadline": "2025-01-02T12:00:00Z",
    },
    "agentbus.request.failed.v1": {
        "request_id": _REQUEST_ID,
        "request_type": "agentbus.model.requested.v1",
        "step": _STEP,
        "error": {"code": "request.dead_lettered", "message": "ValueError: bad alias"},
        "dead_letter": {
            "topic": "model.requests.dlq",
            "partition": 2,
            "offset": 7,
            "original_topic": "model.requests",
            "original_partition": 2,
            "original_offset": 41,
        },
    },
    **{
        f"agentbus.workflow.{transition}.v1": {**_DEFINITION, **extra}
        for transition, extra in (
            ("drafted", {}),
            ("submitted", {}),
            (
                "approved",
                {"actor": {"kind": "user", "id": "bob"}, "reviewer": {"kind": "user", "id": "bob"}},
            ),
            ("published", {"quality_gate": {"evaluation_id": "eval-0001", "passed": True}}),
            ("deprecated", {}),
        )
    },
    "agentbus.evaluation.case_scored.v1": {
        "evaluation_id": "eval-0001",
        "workflow": _WORKFLOW,
        "case_id": "damaged-parcel",
        "run_id": SAMPLE_RUN_ID,
        "passed": True,
        "score": 1.0,
        "latency_ms": 2500,
    },
    "agentbus.evaluation.completed.v1": {
        "evaluation_id": "eval-0001",
        "workflow": _WORKFLOW,
        "dataset_hash": "sha256:" + hashlib.sha256(b"dataset").hexdigest(),
        "passed": False,
        "pass_rate": 0.5,
        "breaches": ["min_pass_rate: measured 0.50, limit 0.90"],
    },
    "agentbus.alert.raised.v1": {
        "rule": "refund-errors",
        "workflow": "invoice-triage",
        "metric": "error_rate",
        "value": 0.25,
        "threshold": 0.1,
        "window_s": 300,
        "details": {"runs": 8, "failed": 2},
    },
    "agentbus.alert.resolved.v1": {
        "rule": "refund-errors",
        "workflow": "invoice-triage",
        "metric": "error_rate",
        "value": 0.0,
        "threshold": 0.1,
    },
    "agentbus.usage.recorded.v1": {
        "step": _STEP,
        "request_id": _REQUEST_ID,
        "alias": "default",
        "provider": "local",
        "model": "echo-1",
        "usage": _USAGE,
        "cost_usd": "0.000150",
        "budget_period": "2025-01",
    },
}


def sample_payload(event_type: str) -> dict[str, Any]:
    """A fresh JSON-ready payload dict for `event_type` (KeyError when none is defined)."""
    return copy.deepcopy(_PAYLOADS[event_type])


def sample(model: type[E], **overrides: Any) -> E:
    """A valid instance of `model`; `overrides` replace top-level fields and are validated."""
    return model.model_validate({**sample_payload(model.EVENT_TYPE), **overrides})


def sample_for(event_type: str, **overrides: Any) -> Event:
    """A valid instance of the model registered for `event_type`."""
    return sample(model_for(event_type), **overrides)


def all_samples() -> dict[str, Event]:
    """One valid instance per registered event type."""
    return {event_type: sample(model) for event_type, model in all_events().items()}
