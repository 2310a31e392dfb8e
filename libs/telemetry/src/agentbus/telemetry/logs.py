"""Structured JSON logs carrying tenant, run, step and trace ids."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

__all__ = [
    "JsonFormatter",
    "bind_log_context",
    "configure_logging",
    "log_context",
    "pop_log_context",
    "push_log_context",
]

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("agentbus_log_context", default={})  # noqa: B039


def log_context() -> dict[str, str]:
    """The ids bound for the current task (tenant_id, run_id, step_id, event_id, ...)."""
    return dict(_CONTEXT.get())


@contextmanager
def bind_log_context(**fields: str | None) -> Iterator[None]:
    """Add ids to every log line written inside the block."""
    token = push_log_context(**fields)
    try:
        yield
    finally:
        pop_log_context(token)


def push_log_context(**fields: str | None) -> Token[dict[str, str]]:
    """Add ids to every log line until `pop_log_context(token)` (for hand-written blocks)."""
    merged = {**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _CONTEXT.set(merged)


def pop_log_context(token: Token[dict[str, str]]) -> None:
    """Undo the `push_log_context` that returned `token`."""
    _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; never includes message arguments' raw objects."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **_CONTEXT.get(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as JSON lines (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every rebalance at INFO; keep it to warnings unless asked.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
