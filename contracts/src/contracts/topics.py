"""The topic catalogue: every Kafka topic, its key, partitions, retention and event types."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = [
    "BROKER_MAX_MESSAGE_BYTES",
    "CATALOGUE",
    "DLQ_SUFFIX",
    "REPLY_TOPICS",
    "RUN_KEY",
    "AmbiguousTopicError",
    "CleanupPolicy",
    "TopicSpec",
    "all_topics",
    "dlq_max_message_bytes",
    "dlq_name",
    "dlq_spec",
    "topic",
    "topic_configs",
    "topic_for_event",
]

DLQ_SUFFIX = ".dlq"
RUN_KEY = "run_id (task_id before a run exists)"
_DAY_MS = 24 * 60 * 60 * 1000
_WEEK_MS = 7 * _DAY_MS
_DLQ_RETENTION_MS = 30 * _DAY_MS  # time to inspect and re-drive
_INFINITE = -1
_PARTITIONS = 6
BROKER_MAX_MESSAGE_BYTES = 1_048_588  # Kafka's message.max.bytes default, for unset topics
_DLQ_HEADROOM_BYTES = 64 * 1024  # the dlq.* headers a dead letter gains, cause included
_REQUEST_FAILED = "request.failed.v1"  # rides on every reply topic (a dead-lettered request)


class CleanupPolicy(StrEnum):
    """Kafka `cleanup.policy`; the catalogue never compacts (every event matters)."""

    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One Kafka topic as agentbus uses it."""

    name: str
    key: str
    partitions: int
    retention_ms: int
    cleanup_policy: CleanupPolicy
    event_types: tuple[str, ...]
    description: str
    dlq_of: str | None = None
    max_message_bytes: int | None = None
    """Kafka `max.message.bytes`; None keeps the broker's default."""

    @property
    def is_dlq(self) -> bool:
        """True for a dead-letter topic."""
        return self.dlq_of is not None


def _spec(
    name: str, *types: str, description: str, retention_ms: int = _WEEK_MS, key: str = RUN_KEY
) -> TopicSpec:
    events = tuple(f"agentbus.{t}" for t in types)
    return TopicSpec(
        name, key, _PARTITIONS, retention_ms, CleanupPolicy.DELETE, events, description
    )


_RUN_EVENTS = (
    *("started", "completed", "failed", "cancelled"),
    *(f"step_{s}" for s in ("scheduled", "completed", "failed", "retrying", "skipped")),
)

CATALOGUE: tuple[TopicSpec, ...] = (
    _spec(
        "tasks.submitted",
        "task.submitted.v1",
        "task.cancel_requested.v1",
        description="Upstream systems submit and cancel tasks (keyed by task id)",
    ),
    _spec("tasks.completed", "task.completed.v1", description="Task results for upstream"),
    _spec("tasks.failed", "task.failed.v1", description="Task failures for upstream"),
    _spec(
        "runs.events",
        *(f"run.{e}.v1" for e in _RUN_EVENTS),
        description="Run and step lifecycle, published by the planner",
    ),
    _spec(
        "runs.timers",
        "run.timer_fired.v1",
        description="The planner's durable timers coming due (timeouts, retries)",
    ),
    _spec("guardrail.requests", "guardrail.check_requested.v1", description="Checks to run"),
    _spec(
        "guardrail.verdicts",
        "guardrail.verdict.v1",
        _REQUEST_FAILED,
        description="Guardrail decisions",
    ),
    _spec("model.requests", "model.requested.v1", description="Chat completions to make"),
    _spec(
        "model.responses",
        "model.responded.v1",
        _REQUEST_FAILED,
        description="Model answers or errors",
    ),
    _spec("tool.requests", "tool.requested.v1", description="Tool invocations to make"),
    _spec(
        "tool.results",
        "tool.completed.v1",
        _REQUEST_FAILED,
        description="Tool results, failures, denials",
    ),
    _spec(
        "approval.requests",
        "approval.requested.v1",
        "approval.cancel_requested.v1",
        "approval.deadline_reached.v1",
        description="Steps awaiting humans, withdrawn requests, approval deadlines (timers)",
    ),
    _spec(
        "approval.decisions",
        "approval.decided.v1",
        _REQUEST_FAILED,
        description="Final approval outcomes",
    ),
    # Infinite, never compacted: the audit store is a projection that must be rebuildable
    # by replaying this topic, and a key-based compaction would silently drop records.
    _spec(
        "audit.log",
        "audit.recorded.v1",
        description="Append-only audit trail from every service",
        retention_ms=_INFINITE,
        key="run_id (the event id when the record belongs to no run)",
    ),
    # 400 days: a full year of spend can be reconciled against invoices.
    _spec(
        "usage.records",
        "usage.recorded.v1",
        description="Metered model spend per tenant",
        retention_ms=400 * _DAY_MS,
    ),
    # Infinite like audit.log: a definition's review and publication history is audit data.
    _spec(
        "workflows.events",
        *(f"workflow.{e}.v1" for e in ("drafted", "submitted", "approved", "published")),
        "workflow.deprecated.v1",
        description="Workflow-definition lifecycle, for the audit trail",
        retention_ms=_INFINITE,
        key="workflow name",
    ),
    _spec(
        "evaluations.events",
        "evaluation.case_scored.v1",
        "evaluation.completed.v1",
        "alert.raised.v1",
        "alert.resolved.v1",
        description="Evaluation case results and verdicts; AgentOps alerts",
        key="evaluation id (alerts: rule name)",
    ),
)

REPLY_TOPICS: dict[str, str] = {
    "guardrail.requests": "guardrail.verdicts",
    "model.requests": "model.responses",
    "tool.requests": "tool.results",
    "approval.requests": "approval.decisions",
}
"""Request topic -> the topic its replies (and its failed replies) go to."""


class AmbiguousTopicError(LookupError):
    """The event type rides on several topics; the publisher must name the topic."""


_BY_NAME = {spec.name: spec for spec in CATALOGUE}


def topic(name: str) -> TopicSpec:
    """The spec of topic `name` (a DLQ name works too); KeyError names the known topics."""
    if name.endswith(DLQ_SUFFIX) and name.removesuffix(DLQ_SUFFIX) in _BY_NAME:
        return dlq_spec(_BY_NAME[name.removesuffix(DLQ_SUFFIX)])
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise KeyError(f"unknown topic {name!r}; the catalogue has: {known}") from None


def dlq_name(topic_name: str) -> str:
    """Name of the dead-letter topic of `topic_name`."""
    return f"{topic_name}{DLQ_SUFFIX}"


def dlq_spec(spec: TopicSpec) -> TopicSpec:
    """The dead-letter topic of `spec`: same partitions, kept at least as long as the source."""
    if spec.is_dlq:
        raise ValueError(f"{spec.name} is already a dead-letter topic")
    retention = (
        _INFINITE if spec.retention_ms == _INFINITE else max(spec.retention_ms, _DLQ_RETENTION_MS)
    )
    return replace(
        spec,
        name=dlq_name(spec.name),
        retention_ms=retention,
        max_message_bytes=dlq_max_message_bytes(spec.max_message_bytes),
        description=f"Dead letters of {spec.name}: poison or exhausted records, cause in headers",
        dlq_of=spec.name,
    )


def dlq_max_message_bytes(source_max_message_bytes: int | None) -> int:
    """A DLQ's `max.message.bytes`: its source's (or the broker default) plus the dlq.* headers.

    A record as large as its topic allows must fit in the DLQ with its cause attached,
    or dead-lettering it fails and the record stalls its partition.
    """
    return (source_max_message_bytes or BROKER_MAX_MESSAGE_BYTES) + _DLQ_HEADROOM_BYTES


def all_topics(include_dlq: bool = True) -> tuple[TopicSpec, ...]:
    """Every catalogue topic, each followed by its DLQ unless `include_dlq` is False."""
    if not include_dlq:
        return CATALOGUE
    return tuple(t for spec in CATALOGUE for t in (spec, dlq_spec(spec)))


def topic_for_event(event_type: str) -> TopicSpec:
    """The one topic an event type is published to.

    KeyError when no topic carries it; AmbiguousTopicError when several do (such as
    agentbus.request.failed.v1 on every reply topic): the caller must name the topic.
    """
    homes = [spec for spec in CATALOGUE if event_type in spec.event_types]
    if len(homes) == 1:
        return homes[0]
    if homes:
        names = ", ".join(spec.name for spec in homes)
        raise AmbiguousTopicError(
            f"event type {event_type!r} rides on several topics ({names}); name the topic "
            "when publishing it"
        )
    raise KeyError(f"no topic carries event type {event_type!r}; add it to contracts.topics")


def topic_configs(spec: TopicSpec, *, replication_factor: int = 1) -> dict[str, str]:
    """Kafka topic configs for `spec` on a cluster with the given replication factor."""
    configs = {
        "cleanup.policy": str(spec.cleanup_policy),
        "retention.ms": str(spec.retention_ms),
    }
    if spec.retention_ms == _INFINITE:
        configs["retention.bytes"] = str(_INFINITE)
    if spec.max_message_bytes is not None:
        configs["max.message.bytes"] = str(spec.max_message_bytes)
    # With acks=all, min.insync.replicas=2 of 3 survives one broker loss without data loss;
    # it must stay below the replication factor or producers fail when one replica is down.
    configs["min.insync.replicas"] = str(2 if replication_factor >= 3 else 1)
    return configs
