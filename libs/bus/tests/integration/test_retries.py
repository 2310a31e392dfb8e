"""Transient failures are retried with backoff; exhausted and permanent ones dead-letter."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agentbus.bus import Bus, PermanentError, RetryPolicy, TransientError
from agentbus.storage import UnitOfWork
from agentbus.testing import consume, eventually, produce, raw_record
from agentbus.testing.effects import count_effects, record_effect
from contracts.envelope import Envelope, headers_to_dict

pytestmark = pytest.mark.integration


class Flaky:
    """Fails transiently `failures` times per event, then applies the effect."""

    def __init__(
        self, failures: int, error: type[Exception] = TransientError, only: str | None = None
    ) -> None:
        self.failures = failures
        self.error = error
        self.only = only
        self.calls: dict[str, list[float]] = {}

    async def __call__(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        calls = self.calls.setdefault(envelope.id, [])
        calls.append(time.monotonic())
        if len(calls) <= self.failures and self.only in (None, envelope.id):
            raise self.error(f"failure {len(calls)} of {envelope.id}")
        await record_effect(envelope, uow)


async def test_transient_failures_are_retried_with_backoff(case, started, make_task):
    policy = RetryPolicy(max_attempts=5, initial_backoff_s=0.2, max_backoff_s=2, jitter_s=0)
    bus = Bus(case.settings(retry=policy), service="test")
    handler = Flaky(failures=2)
    bus.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(handler)
    envelope = make_task()
    await produce(case.bootstrap, case.topic, [raw_record(envelope)])
    await started(bus)

    async def applied() -> bool:
        async with bus.uow.sessions() as session:
            return await count_effects(session) == 1

    await eventually(applied, what="success on the third attempt")
    calls = handler.calls[envelope.id]
    assert len(calls) == 3
    first_wait, second_wait = calls[1] - calls[0], calls[2] - calls[1]
    assert first_wait >= 0.2, "waits the initial backoff before the first retry"
    assert second_wait >= 0.4, "the backoff doubles"


async def test_exhausted_retries_dead_letter_and_the_consumer_goes_on(case, started, make_task):
    bus = Bus(case.settings(), service="test")  # max_attempts=3
    doomed, next_one = make_task(), make_task()
    handler = Flaky(failures=3, only=doomed.id)
    bus.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(handler)
    await produce(case.bootstrap, case.topic, [raw_record(doomed), raw_record(next_one)])
    await started(bus)
    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    h = headers_to_dict(letter.headers)
    assert h["dlq.error.class"] == "agentbus.bus.errors.TransientError"
    assert h["dlq.attempts"] == "3"
    assert h["ce_id"] == doomed.id
    assert len(handler.calls[doomed.id]) == 3

    async def next_applied() -> bool:
        async with bus.uow.sessions() as session:
            return await count_effects(session) == 1

    await eventually(next_applied, what="the record after the dead letter")


async def test_permanent_errors_are_not_retried(case, started, make_task):
    bus = Bus(case.settings(), service="test")
    handler = Flaky(failures=10, error=PermanentError)
    bus.consumer(case.topic, event_types={"agentbus.task.submitted.v1"})(handler)
    envelope = make_task()
    await produce(case.bootstrap, case.topic, [raw_record(envelope)])
    await started(bus)
    [letter] = await consume(case.bootstrap, case.dlq, count=1)
    h = headers_to_dict(letter.headers)
    assert h["dlq.error.class"] == "agentbus.bus.errors.PermanentError"
    assert h["dlq.attempts"] == "1"
    assert len(handler.calls[envelope.id]) == 1
