"""A tiny driver for the pure state machine: feed inputs, collect commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from planner.machine import decide
from planner.state import Command, Input, Replied, RunState, SendRequest, Started
from planner.validation import parse_definition
from planner.versions import content_hash

from contracts.types import Actor, ActorKind, WorkflowRef

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Sim:
    """One run of a definition, driven by hand."""

    def __init__(self, yaml_text: str, run_input: dict[str, Any] | None = None) -> None:
        self.definition = parse_definition(yaml_text)
        self.state = RunState(
            run_id="run-1",
            tenant_id="acme",
            task_id="task-1",
            workflow=WorkflowRef(
                name=self.definition.name,
                version=self.definition.version,
                content_hash=content_hash(self.definition),
            ),
            input=run_input or {},
            requested_by=Actor(kind=ActorKind.SYSTEM, id="crm"),
        )
        self.clock = T0
        self.log: list[Command] = []

    def tick(self, seconds: float) -> datetime:
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def feed(self, event: Input) -> list[Command]:
        before, snapshot = self.state, self.state.model_dump()
        self.state, commands = decide(self.definition, self.state, event)
        # Deciding never changes the state it was given (the run cache keeps it).
        assert before.model_dump() == snapshot
        self.log.extend(commands)
        return commands

    def start(self) -> list[Command]:
        return self.feed(Started(now=self.clock))

    def requests(self, commands: list[Command] | None = None) -> list[SendRequest]:
        return [
            c for c in (self.log if commands is None else commands) if isinstance(c, SendRequest)
        ]

    def answer(self, request: SendRequest, output: Any = None, error: Any = None) -> list[Command]:
        return self.feed(
            Replied(
                now=self.tick(1),
                request_id=request.request_id,
                step_key=request.step_key,
                attempt=request.attempt,
                output=output,
                error=error,
            )
        )
