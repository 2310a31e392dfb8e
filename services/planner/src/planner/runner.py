"""Carries out the state machine's commands inside one unit of work (one transaction)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from agentbus.storage import UnitOfWork
from agentbus.telemetry import current_traceparent
from contracts.audit import record, service_actor
from contracts.base import Event
from contracts.envelope import new_envelope
from contracts.events.approval import ApprovalCancelRequested, ApprovalRequested
from contracts.events.run import RunTimerFired, StepFailed, StepRetrying, TimerPurpose
from contracts.events.task import TaskCompleted, TaskFailed
from contracts.topics import topic_for_event
from contracts.types import ErrorInfo, StepRef, Timings, WorkflowRef

from .definition import WorkflowDefinition
from .evaluation_approvals import fixture_audit, fixture_reply
from .machine import decide
from .metrics import RunMetrics
from .requests import deterministic_id
from .run_cache import CachedRun, RunCache
from .state import (
    CancelChild,
    CancelRequested,
    CancelTimer,
    ChildFinished,
    Command,
    CompleteRun,
    Emit,
    FailRun,
    Input,
    RunState,
    ScheduleTimer,
    SendRequest,
    StartChild,
    Started,
)
from .store import ConcurrentUpdateError, DefinitionRepository, RunRepository

__all__ = ["SOURCE", "DefinitionCache", "RunDriver", "Topics", "new_run_state"]

SOURCE = "planner"
log = logging.getLogger("planner.runs")


@dataclass(frozen=True)
class Topics:
    """Catalogue topic names, optionally prefixed (isolated test or staging topics)."""

    prefix: str = ""

    def __call__(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def of(self, event: Event) -> str:
        """The (prefixed) catalogue topic of an event."""
        return self(topic_for_event(event.EVENT_TYPE).name)


class DefinitionCache:
    """Parsed definitions by (tenant, name, content hash): immutable, so safe to cache."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: dict[tuple[str, str, str], WorkflowDefinition] = {}

    async def get(self, uow: UnitOfWork, name: str, content_hash: str) -> WorkflowDefinition:
        """The definition a run pinned; LookupError if it is gone."""
        key = (uow.tenant_id, name, content_hash)
        cached = self._items.get(key)
        if cached is not None:
            return cached
        row = await DefinitionRepository(uow).by_hash(name, content_hash)
        if row is None:
            raise LookupError(f"definition {name} {content_hash} not found")
        definition = WorkflowDefinition.model_validate(row.definition)
        if len(self._items) >= self.size:
            self._items.pop(next(iter(self._items)))
        self._items[key] = definition
        return definition


def new_run_state(
    run_id: str, definition: WorkflowDefinition, content_hash: str, **fields: Any
) -> RunState:
    """The state of a run that has not started yet."""
    ref = WorkflowRef(name=definition.name, version=definition.version, content_hash=content_hash)
    return RunState(run_id=run_id, workflow=ref, **fields)


@dataclass
class _Loaded:
    """A run as this transaction sees it: read at `revision` (new: not stored yet)."""

    revision: int
    state: RunState
    definition: WorkflowDefinition
    dirty: bool = False
    new: bool = False


_PENDING = "planner.runs"


@dataclass
class RunDriver:
    """Feeds inputs to runs and turns commands into outbox events, timers and child runs.

    The runs a transaction touches are written once, when it commits (one statement for
    all of a batch's runs), and their committed states are kept in `cache`.
    """

    topics: Topics
    definitions: DefinitionCache = field(default_factory=DefinitionCache)
    metrics: RunMetrics | None = None
    cache: RunCache = field(default_factory=RunCache)

    async def start(
        self,
        uow: UnitOfWork,
        state: RunState,
        definition: WorkflowDefinition,
        traceparent: str | None,
    ) -> None:
        """Create a run and take its first decisions."""
        batch = _Batch(self, uow, traceparent)
        batch.pending[state.run_id] = _Loaded(0, state, definition, new=True)
        batch.queue.append((state.run_id, Started(now=_now())))
        await batch.drain()

    async def feed(
        self,
        uow: UnitOfWork,
        run_id: str,
        event: Input | Callable[[RunState, WorkflowDefinition], Input | None],
        traceparent: str | None = None,
    ) -> bool:
        """Feed one input to a run (and whatever it causes); False if the run is unknown.

        `event` may be a function of the loaded run, so a reply is read with its step's
        definition without loading the run twice.
        """
        batch = _Batch(self, uow, traceparent)
        loaded = await batch.load(run_id)
        if loaded is None:
            return False
        made = event(loaded.state, loaded.definition) if callable(event) else event
        if made is not None:
            batch.queue.append((run_id, made))
            await batch.drain()
        return True

    async def exists(self, uow: UnitOfWork, run_id: str) -> bool:
        """Whether the run exists, created by this transaction or committed."""
        return await _Batch(self, uow, None).load(run_id) is not None

    async def locate(
        self, uow: UnitOfWork, *, run_id: str | None, task_id: str | None
    ) -> RunState | None:
        """A run by id, else a task's top-level run: its state as this transaction sees it."""
        batch = _Batch(self, uow, None)
        if run_id is not None:
            loaded = await batch.load(run_id)
            if loaded is not None:
                return loaded.state
        if task_id is None:
            return None
        for loaded in batch.pending.values():
            if loaded.state.task_id == task_id and loaded.state.parent is None:
                return loaded.state
        row = await RunRepository(uow).of_task(task_id)
        found = await batch.load(row.run_id) if row is not None else None
        return found.state if found is not None else None

    def pending(self, uow: UnitOfWork) -> dict[str, _Loaded]:
        """The runs this transaction has read or changed; written when it commits."""
        pending: dict[str, _Loaded] | None = uow.stash.get(_PENDING)
        if pending is None:
            pending = uow.stash[_PENDING] = {}
            runs = pending
            uow.before_commit(lambda: self._write(uow, runs))
            uow.after_commit(lambda: self._remember(uow.tenant_id, runs))
        return pending

    async def _write(self, uow: UnitOfWork, pending: dict[str, _Loaded]) -> None:
        new = [loaded.state for loaded in pending.values() if loaded.new]
        changed = [
            (loaded.revision, loaded.state)
            for loaded in pending.values()
            if loaded.dirty and not loaded.new
        ]
        repository = RunRepository(uow)
        try:
            await repository.insert(new)
            await repository.write(changed)
        except IntegrityError as exc:
            # Two submissions racing for one run (same idempotency key on two
            # partitions): the loser retries, then finds the run and changes nothing.
            self._forget(uow.tenant_id, pending)
            raise ConcurrentUpdateError("a run was created concurrently") from exc
        except ConcurrentUpdateError:
            self._forget(uow.tenant_id, pending)
            raise

    def _remember(self, tenant_id: str, pending: dict[str, _Loaded]) -> None:
        for run_id, loaded in pending.items():
            written = loaded.dirty and not loaded.new
            revision = loaded.revision + 1 if written else loaded.revision
            self.cache.put(tenant_id, run_id, CachedRun(revision, loaded.state))

    def _forget(self, tenant_id: str, pending: dict[str, _Loaded]) -> None:
        for run_id in pending:
            self.cache.forget(tenant_id, run_id)


class _Batch:
    """The runs one transaction touches: a parent and its children may decide in turn."""

    def __init__(self, driver: RunDriver, uow: UnitOfWork, traceparent: str | None) -> None:
        self.driver = driver
        self.uow = uow
        # The bus continues the trace from the envelope; new events join the current span.
        self.traceparent = traceparent or current_traceparent()
        self.pending = driver.pending(uow)
        self.queue: deque[tuple[str, Input]] = deque()

    async def load(self, run_id: str) -> _Loaded | None:
        loaded = self.pending.get(run_id)
        if loaded is not None:
            return loaded
        cached = self.driver.cache.get(self.uow.tenant_id, run_id)
        if cached is None:
            stored = await RunRepository(self.uow).read(run_id)
            if stored is None:
                return None
            cached = CachedRun(*stored)
        state = cached.state
        definition = await self.driver.definitions.get(
            self.uow, state.workflow.name, state.workflow.content_hash
        )
        loaded = _Loaded(cached.revision, state, definition)
        self.pending[run_id] = loaded
        return loaded

    async def drain(self) -> None:
        while self.queue:
            run_id, event = self.queue.popleft()
            loaded = await self.load(run_id)
            if loaded is None:
                continue
            loaded.state, commands = decide(loaded.definition, loaded.state, event)
            loaded.dirty = True
            for command in commands:
                await self.carry_out(loaded, command)

    async def carry_out(self, run: _Loaded, command: Command) -> None:
        state = run.state
        if isinstance(command, SendRequest):
            if state.evaluation is not None and isinstance(command.payload, ApprovalRequested):
                self.answer_from_fixture(state, command.payload, command.request_id)
                return
            self.publish(state, command.payload, event_id=command.request_id)
        elif isinstance(command, Emit):
            if state.evaluation is not None and isinstance(command.event, ApprovalCancelRequested):
                return  # an evaluation run never sent the approval request it would withdraw
            self.publish(state, command.event)
            if isinstance(command.event, StepFailed | StepRetrying):
                self.audit_step(state, command.event)
        elif isinstance(command, ScheduleTimer):
            fired = RunTimerFired(
                step=StepRef(
                    run_id=state.run_id, step_id=command.step_key, attempt=command.attempt
                ),
                purpose=TimerPurpose(command.timer.value),
                due_at=command.at,
            )
            envelope = self.envelope(state, fired, event_id=deterministic_id(command.timer_id))
            self.uow.schedule(
                envelope,
                at=command.at,
                timer_id=command.timer_id,
                topic=self.driver.topics("runs.timers"),
            )
        elif isinstance(command, CancelTimer):
            await self.uow.cancel_timer(command.timer_id)
        elif isinstance(command, StartChild):
            await self.start_child(state, command)
        elif isinstance(command, CancelChild):
            by = service_actor(SOURCE)
            self.queue.append(
                (command.child_run_id, CancelRequested(now=_now(), reason=command.reason, by=by))
            )
        elif isinstance(command, CompleteRun | FailRun):
            self.finish(state, command)

    def answer_from_fixture(self, state: RunState, request: ApprovalRequested, rid: str) -> None:
        """An evaluation run's approval: its case's declared outcome, no approval request."""
        assert state.evaluation is not None
        reply = fixture_reply(request, rid, state.evaluation, now=_now())
        self.queue.append((state.run_id, reply))
        audit = fixture_audit(
            request,
            rid,
            state.evaluation,
            reply,
            tenant_id=state.tenant_id,
            workflow=state.workflow,
            traceparent=self.traceparent,
        )
        self.uow.publish(audit, topic=self.driver.topics("audit.log"))

    async def start_child(self, parent: RunState, command: StartChild) -> None:
        row = await DefinitionRepository(self.uow).runnable(command.workflow, command.version)
        if row is None:
            wanted = f"{command.workflow}@{command.version or 'latest'}"
            error = ErrorInfo(code="workflow.not_found", message=f"no published workflow {wanted}")
            self.queue.append((parent.run_id, _child_done(command, error=error)))
            return
        definition = await self.driver.definitions.get(self.uow, row.name, row.content_hash)
        child = new_run_state(
            command.child_run_id,
            definition,
            row.content_hash,
            tenant_id=parent.tenant_id,
            task_id=parent.task_id,
            input=command.input,
            requested_by=parent.requested_by,
            correlation_id=parent.correlation_id,
            parent=StepRef(run_id=parent.run_id, step_id=command.step_key, attempt=command.attempt),
            # A child of an evaluation run is one too: its write tools answer from fixtures.
            evaluation=parent.evaluation,
        )
        self.pending[child.run_id] = _Loaded(0, child, definition, new=True)
        self.queue.append((child.run_id, Started(now=_now())))

    def finish(self, state: RunState, command: CompleteRun | FailRun) -> None:
        if self.driver.metrics is not None:
            # Recorded at the decision: a transaction that then rolls back and is retried
            # may count a run twice; acceptable for latency histograms.
            self.driver.metrics.run_ended(state)
        output = command.output if isinstance(command, CompleteRun) else None
        error = command.error if isinstance(command, FailRun) else None
        if state.parent is not None:
            done = ChildFinished(
                now=_now(),
                step_key=state.parent.step_id,
                attempt=state.parent.attempt,
                child_run_id=state.run_id,
                output=output,
                error=error,
            )
            self.queue.append((state.parent.run_id, done))
            return
        timings = _timings(state)
        if isinstance(command, CompleteRun):
            result: Event = TaskCompleted(
                task_id=state.task_id,
                run_id=state.run_id,
                workflow=state.workflow,
                output=command.output,
                correlation_id=state.correlation_id,
                timings=timings,
            )
        else:
            result = TaskFailed(
                task_id=state.task_id,
                run_id=state.run_id,
                error=command.error,
                failed_step=command.failed_step,
                correlation_id=state.correlation_id,
                timings=timings,
            )
        self.publish(state, result)
        if isinstance(command, CompleteRun):
            action, outcome = "run.complete", "succeeded"
        elif command.error.code == "run.cancelled":
            action, outcome = "run.cancel", "succeeded"
        else:
            action, outcome = "run.fail", "failed"
        self.uow.publish(
            record(
                source=SOURCE,
                tenant_id=state.tenant_id,
                actor=service_actor(SOURCE),
                action=action,
                resource_type="run",
                resource_id=state.run_id,
                outcome=outcome,
                run_id=state.run_id,
                traceparent=self.traceparent,
                workflow=state.workflow,
                on_behalf_of=state.requested_by,
                error_code=error.code if error else None,
                details={"task_id": state.task_id, "failed_step": state.failed_step},
                event_id=deterministic_id(state.run_id, "audit", "finish"),
            ),
            topic=self.driver.topics("audit.log"),
        )

    def audit_step(self, state: RunState, event: StepFailed | StepRetrying) -> None:
        """A step failing for good, or being retried, is a decision an auditor sees."""
        retrying = isinstance(event, StepRetrying)
        details = {"next_attempt": event.next_attempt} if isinstance(event, StepRetrying) else {}
        self.uow.publish(
            record(
                source=SOURCE,
                tenant_id=state.tenant_id,
                actor=service_actor(SOURCE),
                action="step.retry" if retrying else "step.fail",
                resource_type="step",
                resource_id=f"{state.run_id}/{event.step.step_id}",
                outcome="failed",
                step=event.step,
                traceparent=self.traceparent,
                workflow=state.workflow,
                error_code=event.error.code,
                details=details,
            ),
            topic=self.driver.topics("audit.log"),
        )

    def envelope(self, state: RunState, data: Event, event_id: str | None = None) -> Any:
        return new_envelope(
            data,
            source=SOURCE,
            tenant_id=state.tenant_id,
            run_id=state.run_id,
            event_id=event_id,
            traceparent=self.traceparent,
        )

    def publish(self, state: RunState, data: Event, event_id: str | None = None) -> None:
        self.uow.publish(self.envelope(state, data, event_id), topic=self.driver.topics.of(data))


def _child_done(command: StartChild, *, error: ErrorInfo) -> ChildFinished:
    return ChildFinished(
        now=_now(),
        step_key=command.step_key,
        attempt=command.attempt,
        child_run_id=command.child_run_id,
        error=error,
    )


def _timings(state: RunState) -> Timings:
    started = state.started_at or _now()
    finished = state.finished_at or _now()
    duration = max(0, int((finished - started).total_seconds() * 1000))
    return Timings(started_at=started, finished_at=finished, duration_ms=duration)


def _now() -> datetime:
    return datetime.now(UTC)
