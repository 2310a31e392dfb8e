"""The topic catalogue: coverage of event types, DLQs and Kafka configs."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from contracts.registry import EVENT_TYPE_PATTERN, all_events
from contracts.topics import (
    BROKER_MAX_MESSAGE_BYTES,
    CATALOGUE,
    REPLY_TOPICS,
    AmbiguousTopicError,
    CleanupPolicy,
    all_topics,
    dlq_max_message_bytes,
    dlq_name,
    dlq_spec,
    topic,
    topic_configs,
    topic_for_event,
)

EXPECTED = {
    "tasks.submitted",
    "tasks.completed",
    "tasks.failed",
    "runs.events",
    "runs.timers",
    "guardrail.requests",
    "guardrail.verdicts",
    "model.requests",
    "model.responses",
    "tool.requests",
    "tool.results",
    "approval.requests",
    "approval.decisions",
    "audit.log",
    "usage.records",
    "workflows.events",
    "evaluations.events",
}


def test_the_catalogue_has_the_architecture_topics() -> None:
    assert {spec.name for spec in CATALOGUE} == EXPECTED
    assert len(CATALOGUE) == len(EXPECTED)


def test_every_registered_event_type_has_a_topic_and_only_failed_replies_have_several() -> None:
    homes = Counter(t for spec in CATALOGUE for t in spec.event_types)
    for event_type in all_events():
        expected = len(REPLY_TOPICS) if event_type == "agentbus.request.failed.v1" else 1
        assert homes[event_type] == expected, f"{event_type} is on {homes[event_type]} topics"


def test_reply_topics_carry_the_failed_reply() -> None:
    assert REPLY_TOPICS == {
        "guardrail.requests": "guardrail.verdicts",
        "model.requests": "model.responses",
        "tool.requests": "tool.results",
        "approval.requests": "approval.decisions",
    }
    for request, reply in REPLY_TOPICS.items():
        assert topic(request).name == request
        assert "agentbus.request.failed.v1" in topic(reply).event_types


def test_every_topic_event_type_exists() -> None:
    registered = set(all_events())
    for spec in CATALOGUE:
        assert spec.event_types, f"{spec.name} carries no event types"
        for event_type in spec.event_types:
            assert EVENT_TYPE_PATTERN.match(event_type)
            assert event_type in registered, f"{spec.name}: {event_type} has no model"


def test_topic_for_event() -> None:
    assert topic_for_event("agentbus.task.submitted.v1").name == "tasks.submitted"
    assert topic_for_event("agentbus.run.step_retrying.v1").name == "runs.events"
    assert topic_for_event("agentbus.audit.recorded.v1").name == "audit.log"
    assert topic_for_event("agentbus.task.cancel_requested.v1").name == "tasks.submitted"
    assert topic_for_event("agentbus.approval.cancel_requested.v1").name == "approval.requests"
    assert topic_for_event("agentbus.workflow.published.v1").name == "workflows.events"
    with pytest.raises(KeyError, match=r"contracts\.topics"):
        topic_for_event("agentbus.task.exploded.v1")


def test_topic_for_event_refuses_a_type_on_several_topics() -> None:
    with pytest.raises(AmbiguousTopicError, match=r"several topics.*model\.responses.*name the"):
        topic_for_event("agentbus.request.failed.v1")


def test_topic_lookup_names_the_known_topics() -> None:
    assert topic("model.requests").event_types == ("agentbus.model.requested.v1",)
    assert topic("model.requests.dlq").dlq_of == "model.requests"
    with pytest.raises(KeyError, match=r"unknown topic 'model\.request'.*model\.requests"):
        topic("model.request")


def test_nothing_is_ever_compacted_and_audit_is_kept_forever() -> None:
    assert all(spec.cleanup_policy is CleanupPolicy.DELETE for spec in all_topics())
    audit = topic("audit.log")
    assert audit.retention_ms == -1
    assert topic_configs(audit)["retention.bytes"] == "-1"
    assert dlq_spec(audit).retention_ms == -1
    workflows = topic("workflows.events")
    assert workflows.retention_ms == -1
    assert workflows.partitions == 6


def test_dlq_spec() -> None:
    source = topic("tool.requests")
    dlq = dlq_spec(source)
    assert dlq.name == dlq_name("tool.requests") == "tool.requests.dlq"
    assert dlq.partitions == source.partitions
    assert dlq.retention_ms >= source.retention_ms
    assert dlq.retention_ms >= 30 * 24 * 3600 * 1000
    assert dlq.is_dlq
    assert not source.is_dlq
    with pytest.raises(ValueError, match="already"):
        dlq_spec(dlq)


def test_all_topics() -> None:
    with_dlq = all_topics()
    assert len(with_dlq) == 2 * len(CATALOGUE)
    assert {t.name for t in with_dlq} == EXPECTED | {dlq_name(n) for n in EXPECTED}
    assert all_topics(include_dlq=False) == CATALOGUE


def test_every_topic_but_workflow_definitions_is_keyed_by_run() -> None:
    others = {"workflows.events", "evaluations.events"}
    by_run = [spec for spec in CATALOGUE if spec.name not in others]
    assert all(spec.key.startswith("run_id") for spec in by_run)
    assert topic("workflows.events").key == "workflow name"
    assert topic("evaluations.events").key.startswith("evaluation id")
    assert all(spec.partitions >= 1 for spec in CATALOGUE)


def test_topic_configs() -> None:
    configs = topic_configs(topic("runs.events"))
    assert configs == {
        "cleanup.policy": "delete",
        "retention.ms": str(7 * 24 * 3600 * 1000),
        "min.insync.replicas": "1",
    }
    assert topic_configs(topic("runs.events"), replication_factor=3)["min.insync.replicas"] == "2"


def test_a_dlq_takes_what_its_source_takes_plus_the_dlq_headers() -> None:
    default_dlq = dlq_spec(topic("tool.results"))
    assert default_dlq.max_message_bytes == BROKER_MAX_MESSAGE_BYTES + 64 * 1024
    assert topic_configs(default_dlq)["max.message.bytes"] == str(default_dlq.max_message_bytes)
    assert "max.message.bytes" not in topic_configs(topic("tool.results")), "broker default"
    big = dataclasses.replace(topic("tool.results"), max_message_bytes=4 * 1024 * 1024)
    assert topic_configs(big)["max.message.bytes"] == str(4 * 1024 * 1024)
    assert dlq_spec(big).max_message_bytes == dlq_max_message_bytes(4 * 1024 * 1024)
    assert dlq_max_message_bytes(4 * 1024 * 1024) == 4 * 1024 * 1024 + 64 * 1024
