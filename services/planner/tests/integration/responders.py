"""Stand-ins for the other services: real Kafka consumers that answer step requests.

Each responder reads one request topic with its own consumer group, skips a request id it
has already acted on (as the real services' inboxes do), counts what it acted on, and
publishes the reply its `answer` function returns (None: stay silent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agentbus.testing import unique
from contracts.base import Event
from contracts.envelope import Envelope, decode, encode, new_envelope
from contracts.events.approval import ApprovalDecided, ApprovalOutcome, ApprovalRequested
from contracts.events.guardrail import Decision, GuardrailCheckRequested, GuardrailVerdict
from contracts.events.model import FinishReason, ModelRequested, ModelResponded
from contracts.events.tool import ToolCompleted, ToolRequested, ToolStatus
from contracts.types import Actor, ActorKind

Answer = Callable[[Envelope[Any]], Event | Awaitable[Event | None] | None]


@dataclass
class Responder:
    """Consumes `request_topic`, answers on `reply_topic`."""

    bootstrap: str
    request_topic: str
    reply_topic: str
    answer: Answer
    acted: Counter[str] = field(default_factory=Counter)  # request id -> times acted on
    received: Counter[str] = field(default_factory=Counter)  # request id -> deliveries
    order: list[tuple[str, str]] = field(default_factory=list)  # (run id, step id) acted on
    requests: list[Envelope[Any]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self.request_topic,
            bootstrap_servers=self.bootstrap,
            group_id=unique("responder"),
            auto_offset_reset="earliest",
            # Its group is its own (no one resumes from its offsets), and a commit at stop
            # can hang when the session loop sat idle past the session timeout while another
            # package's tests ran.
            enable_auto_commit=False,
        )
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await self._consumer.start()
        await self._producer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._consumer.stop()
        await self._producer.stop()

    async def _run(self) -> None:
        async for record in self._consumer:
            envelope = decode(record.headers, record.value)
            self.received[envelope.id] += 1
            if self.acted[envelope.id]:
                continue  # a redelivery: the real service's inbox skips it too
            self.acted[envelope.id] += 1
            self.requests.append(envelope)
            step = getattr(envelope.data, "step", None)
            if step is not None:
                self.order.append((step.run_id, step.step_id))
            # Each request answered on its own task: a held answer must not block the rest.
            self._pending.add(asyncio.create_task(self._reply(envelope)))
            self._pending = {t for t in self._pending if not t.done()}

    async def _reply(self, envelope: Envelope[Any]) -> None:
        reply = self.answer(envelope)
        if asyncio.iscoroutine(reply):
            reply = await reply
        if reply is None:
            return
        out = new_envelope(
            reply, source="responder", tenant_id=envelope.tenantid, run_id=envelope.runid
        )
        encoded = encode(out)
        await self._producer.send_and_wait(
            self.reply_topic, encoded.value, key=encoded.key, headers=list(encoded.headers)
        )

    @property
    def duplicates(self) -> dict[str, int]:
        """Request ids acted on more than once (must stay empty)."""
        return {k: v for k, v in self.acted.items() if v > 1}


def tool_reply(envelope: Envelope[Any], result: Any) -> ToolCompleted:
    req: ToolRequested = envelope.data
    return ToolCompleted(
        step=req.step,
        request_id=envelope.id,
        tool=req.tool,
        status=ToolStatus.SUCCEEDED,
        result=result,
        duration_ms=1,
    )


def model_reply(envelope: Envelope[Any], content: str) -> ModelResponded:
    req: ModelRequested = envelope.data
    return ModelResponded(
        step=req.step,
        request_id=envelope.id,
        alias=req.alias,
        provider="local",
        model="echo",
        content=content,
        finish_reason=FinishReason.STOP,
        latency_ms=1,
    )


def allow(envelope: Envelope[Any]) -> GuardrailVerdict:
    req: GuardrailCheckRequested = envelope.data
    return GuardrailVerdict(
        step=req.step,
        request_id=envelope.id,
        direction=req.direction,
        decision=Decision.ALLOW,
        policy_name="default",
        policy_version="1",
    )


def approve(envelope: Envelope[Any]) -> ApprovalDecided:
    req: ApprovalRequested = envelope.data
    return ApprovalDecided(
        step=req.step,
        request_id=envelope.id,
        approval_id=f"ap-{envelope.id[:8]}",
        outcome=ApprovalOutcome.APPROVED,
        decided_by=[Actor(kind=ActorKind.USER, id="lead")],
        decided_at=datetime.now(UTC),
    )


@dataclass
class Collector:
    """Reads output topics from the start and keeps every decoded envelope, per topic."""

    bootstrap: str
    topics: list[str]
    seen: dict[str, list[Envelope[Any]]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        async for record in self._consumer:
            envelope = decode(record.headers, record.value)
            self.seen.setdefault(record.topic, []).append(envelope)

    def of(self, topic: str) -> list[Envelope[Any]]:
        return list(self.seen.get(topic, []))
