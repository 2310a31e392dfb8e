"""Kafka subscribers: each maps a contract event to a handler call, and stops."""

from __future__ import annotations

from typing import Any

from agentbus.bus import Bus
from agentbus.storage import UnitOfWork
from agentbus.telemetry import bind_log_context
from contracts.envelope import Envelope
from contracts.events.model import ModelResponded
from contracts.events.task import TaskCancelRequested, TaskSubmitted

from .drafting import Drafter, is_draft_reply
from .handlers import RunHandlers
from .runner import Topics

__all__ = ["REPLY_TOPICS", "register"]

REPLY_TOPICS = {
    "guardrail.verdicts": ("agentbus.guardrail.verdict.v1",),
    "model.responses": ("agentbus.model.responded.v1",),
    "tool.results": ("agentbus.tool.completed.v1",),
    "approval.decisions": ("agentbus.approval.decided.v1",),
}
_FAILED = "agentbus.request.failed.v1"


def register(bus: Bus, topics: Topics, runs: RunHandlers, drafter: Drafter) -> None:
    """Subscribe the planner's handlers to its topics."""

    async def on_task(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        data = envelope.data
        if isinstance(data, TaskSubmitted):
            await runs.submit(uow, envelope)
        elif isinstance(data, TaskCancelRequested):
            await runs.cancel(
                uow,
                task_id=data.task_id,
                run_id=data.run_id,
                reason=data.reason,
                by=data.requested_by,
            )

    bus.consumer(
        topics("tasks.submitted"),
        event_types=[TaskSubmitted.EVENT_TYPE, TaskCancelRequested.EVENT_TYPE],
    )(on_task)

    async def on_reply(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        step = getattr(envelope.data, "step", None)
        with bind_log_context(step_id=step.step_id if step else None):
            if isinstance(envelope.data, ModelResponded) and is_draft_reply(envelope.data):
                await drafter.on_answer(uow, envelope.data)
            else:
                await runs.reply(uow, envelope)

    for name, types in REPLY_TOPICS.items():
        bus.consumer(topics(name), event_types=[*types, _FAILED])(on_reply)

    async def on_timer(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        with bind_log_context(step_id=envelope.data.step.step_id):
            await runs.timer(uow, envelope)

    bus.consumer(topics("runs.timers"), event_types=["agentbus.run.timer_fired.v1"])(on_timer)
