"""Fixtures for bus tests: a Bus on a real broker with unique topics and group per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agentbus.bus import Bus, BusSettings, RetryPolicy
from agentbus.testing import create_topics, unique
from agentbus.testing.effects import EFFECT_MIGRATIONS
from contracts.envelope import Envelope, new_envelope
from contracts.events.task import TaskSubmitted
from contracts.types import Actor, ActorKind

FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.2, jitter_s=0.0)


@dataclass
class BusCase:
    """A topic, its DLQ, and how to start a bus consuming it."""

    bootstrap: str
    topic: str
    database_url: str
    group: str

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def settings(self, **overrides: Any) -> BusSettings:
        values: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "client_id": self.group,
            "consumer_group": self.group,
            "database_url": self.database_url,
            "retry": FAST_RETRY,
            "redelivery_pause_s": 0.2,
            "outbox_relay_interval_s": 0.2,
            "outbox_relay_grace_s": 0.5,
        }
        values.update(overrides)
        return BusSettings(**values)


@pytest.fixture
def make_task() -> Callable[..., Envelope[TaskSubmitted]]:
    """Factory of valid task.submitted envelopes."""

    def make(task_id: str | None = None, *, tenant: str = "tenant-a") -> Envelope[TaskSubmitted]:
        data = TaskSubmitted(
            task_id=task_id or f"task-{uuid.uuid4().hex[:8]}",
            workflow="echo",
            input={"text": "hello"},
            requested_by=Actor(kind=ActorKind.SYSTEM, id="upstream"),
        )
        return new_envelope(data, source="tests", tenant_id=tenant)

    return make


@pytest.fixture
async def case(kafka_bootstrap: str, sqlite_url: str) -> BusCase:
    """A fresh topic pair and consumer group on SQLite."""
    topic = unique("bus")
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"])
    return BusCase(kafka_bootstrap, topic, sqlite_url, unique("group"))


@pytest.fixture
async def db_case(kafka_bootstrap: str, database_url: str) -> BusCase:
    """Like `case`, once on SQLite and once on PostgreSQL."""
    topic = unique("bus")
    await create_topics(kafka_bootstrap, [topic, f"{topic}.dlq"])
    return BusCase(kafka_bootstrap, topic, database_url, unique("group"))


@pytest.fixture
async def started() -> AsyncIterator[Callable[[Bus], Awaitable[Bus]]]:
    """Start buses and stop them after the test."""
    buses: list[Bus] = []

    async def start(bus: Bus) -> Bus:
        # Handlers here write the test Effect table: migrate it like a service's own.
        bus.migrations = tuple(dict.fromkeys((*bus.migrations, EFFECT_MIGRATIONS)))
        await bus.start()
        buses.append(bus)
        return bus

    yield start
    for bus in buses:
        await bus.stop()
