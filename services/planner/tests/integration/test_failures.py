"""Timeouts retried per policy then failing the run; a dead-lettered request failing it."""

from __future__ import annotations

import pytest

from agentbus.bus import Bus, BusSettings, PermanentError
from agentbus.testing import unique
from contracts.events.run import StepRetrying
from contracts.events.task import TaskFailed

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SLOW = """
name: slow-lookup
version: 1.0.0
steps:
  - id: lookup
    type: tool
    tool: crm.lookup
    timeout_s: 1
    retry: {max_attempts: 2, backoff_s: 0.2}
"""


async def test_timeout_is_retried_then_fails_the_run_with_the_reason(make_env):
    env = await make_env(key="failures")
    silent = await env.respond("tool.requests", lambda envelope: None)
    await env.publish_definition(SLOW)
    task = await env.submit("slow-lookup", {})

    outcome = (await env.wait_for_outcomes([task], timeout_s=30))[task]
    assert isinstance(outcome, TaskFailed)
    assert outcome.failed_step == "lookup"
    assert outcome.error.code == "step.timeout"
    assert outcome.error.message == "attempt 2 timed out after 1.0s"
    attempts = sorted(e.data.step.attempt for e in silent.requests)
    assert attempts == [1, 2]
    assert len(silent.acted) == 2  # two distinct requests, one per attempt
    retrying = [e.data for e in env.events("runs.events") if isinstance(e.data, StepRetrying)]
    assert [(r.step.attempt, r.next_attempt) for r in retrying] == [(1, 2)]


BROKEN = """
name: broken-tool
version: 1.0.0
steps:
  - id: charge
    type: tool
    tool: payments.charge
    timeout_s: 60
    retry: {max_attempts: 3, backoff_s: 0.1}
    inputs: {amount: input.amount}
"""


async def test_dead_lettered_request_fails_the_run_with_the_dlq_cause(make_env, tmp_path):
    env = await make_env(key="failures")
    # A tool-executor stand-in on the real bus runtime: it rejects the request for good,
    # so the runtime dead-letters it and sends the failed reply the planner waits on.
    group = unique("tool-executor")
    executor = Bus(
        BusSettings(
            bootstrap_servers=env.bootstrap,
            client_id=group,
            consumer_group=group,
            database_url=f"sqlite:///{tmp_path / 'executor.db'}",
        ),
        service="tool-executor",
    )

    @executor.consumer(
        env.topic("tool.requests"),
        event_types=["agentbus.tool.requested.v1"],
        reply_topic=env.topic("tool.results"),
    )
    async def reject(envelope, uow):
        raise PermanentError(f"amount {envelope.data.arguments['amount']} is not a number")

    await executor.start()
    try:
        await env.publish_definition(BROKEN)
        task = await env.submit("broken-tool", {"amount": "lots"})
        outcome = (await env.wait_for_outcomes([task], timeout_s=30))[task]
    finally:
        await executor.stop()
    assert isinstance(outcome, TaskFailed)
    assert outcome.failed_step == "charge"
    assert outcome.error.code == "request.dead_lettered"
    assert "amount lots is not a number" in outcome.error.message
    assert env.topic("tool.requests.dlq") in outcome.error.message
