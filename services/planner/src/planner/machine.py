"""The run state machine: `decide(definition, state, input) -> (state, commands)`, pure.

Same definition, state and input always give the same result: ids are derived from the
run id, step and attempt, and the clock is the input's `now`. Nothing here does I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jmespath.exceptions import JMESPathError
from jsonschema import Draft202012Validator

from contracts.events.approval import ApprovalCancelRequested
from contracts.events.run import (
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepCompleted,
    StepFailed,
    StepRetrying,
    StepScheduled,
    StepSkipped,
)
from contracts.types import ErrorInfo, StepRef, Timings

from .definition import (
    ApprovalStep,
    ConditionStep,
    GuardrailStep,
    MapStep,
    OnFailure,
    StepBase,
    WorkflowDefinition,
    WorkflowStep,
)
from .expressions import evaluate, truthy
from .requests import build_request, deterministic_id, kind_of
from .schema_errors import describe
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
    Replied,
    RunState,
    RunStatus,
    ScheduleTimer,
    SendRequest,
    StartChild,
    Started,
    StepState,
    StepStatus,
    TimerFired,
    TimerKind,
)

__all__ = ["decide", "item_key", "split_key", "step_definition", "timer_id"]


def item_key(map_id: str, index: int) -> str:
    """The step key of one map item (a valid contracts `Name`)."""
    return f"{map_id}/{index}"


def split_key(key: str) -> tuple[str, int | None]:
    """(step id, item index or None) of a step key."""
    head, _, tail = key.partition("/")
    return head, int(tail) if tail else None


def timer_id(run_id: str, key: str, attempt: int, kind: TimerKind) -> str:
    """The durable timer id of one attempt's timeout or retry."""
    return f"{run_id}/{key}/{attempt}/{kind.value}"


def step_definition(definition: WorkflowDefinition, key: str) -> StepBase:
    """The definition of a step key (a map item's is its map's item step)."""
    step_id, index = split_key(key)
    step = definition.step(step_id)
    return step.step if isinstance(step, MapStep) and index is not None else step


def decide(
    definition: WorkflowDefinition, state: RunState, event: Input
) -> tuple[RunState, list[Command]]:
    """The new state and the commands to carry out, atomically with it."""
    run = _Run(definition, _fork(state), event.now)
    if isinstance(event, Started):
        run.start()
    elif isinstance(event, Replied):
        run.replied(event)
    elif isinstance(event, TimerFired):
        run.timer(event)
    elif isinstance(event, ChildFinished):
        run.child(event)
    elif isinstance(event, CancelRequested):
        run.cancel(event)
    return run.state, run.commands


def _fork(state: RunState) -> RunState:
    """A copy of `state` that deciding may change, leaving `state` as it was.

    The machine changes only the steps mapping and each StepState's own fields; nested
    values (input, outputs, map items, errors) are replaced, never changed in place, so
    they are shared. A deep copy cost a tenth of the planner's CPU.
    """
    steps = {key: step.model_copy() for key, step in state.steps.items()}
    return state.model_copy(update={"steps": steps})


class _Run:
    def __init__(self, definition: WorkflowDefinition, state: RunState, now: datetime) -> None:
        self.d = definition
        self.state = state
        self.now = now
        self.commands: list[Command] = []

    # -- inputs ----------------------------------------------------------------------

    def start(self) -> None:
        if self.state.started_at is not None:
            return
        self.state.started_at = self.now
        for step in self.d.steps:
            self.state.steps.setdefault(step.id, StepState())
        self.commands.append(Emit(event=RunStarted(**self._run_fields())))
        self.advance()

    def replied(self, event: Replied) -> None:
        key = event.step_key or self._key_of_request(event.request_id)
        st = self.state.steps.get(key) if key else None
        if (
            key is None
            or st is None
            or not self._accepting(key)
            or st.status is not StepStatus.RUNNING
            or st.request_id != event.request_id
            or (event.attempt is not None and event.attempt != st.attempt)
        ):
            return  # late, duplicate or foreign: nothing changes
        self._cancel_timeout(key, st)
        if event.error is not None:
            self.attempt_failed(key, event.error)
        else:
            self.attempt_succeeded(key, event.output)

    def timer(self, event: TimerFired) -> None:
        st = self.state.steps.get(event.step_key)
        if st is None or st.attempt != event.attempt or not self._accepting(event.step_key):
            return
        if event.timer is TimerKind.TIMEOUT and st.status is StepStatus.RUNNING:
            step = step_definition(self.d, event.step_key)
            if st.child_run_id:
                self.commands.append(CancelChild(child_run_id=st.child_run_id, reason="timeout"))
            message = f"attempt {st.attempt} timed out after {step.timeout_s}s"
            self.attempt_failed(
                event.step_key, ErrorInfo(code="step.timeout", message=message, retryable=True)
            )
        elif event.timer is TimerKind.RETRY and st.status is StepStatus.WAITING_RETRY:
            self.send(event.step_key, st.attempt + 1)
            self.advance()

    def child(self, event: ChildFinished) -> None:
        st = self.state.steps.get(event.step_key)
        if (
            st is None
            or st.status is not StepStatus.RUNNING
            or st.attempt != event.attempt
            or st.child_run_id != event.child_run_id
            or not self._accepting(event.step_key)
        ):
            return
        self._cancel_timeout(event.step_key, st)
        if event.error is not None:
            self.attempt_failed(event.step_key, event.error)
        else:
            self.attempt_succeeded(event.step_key, event.output)

    def cancel(self, event: CancelRequested) -> None:
        if self.state.status.final:
            return
        self._stop_everything()
        self.state.status = RunStatus.CANCELLED
        self.state.finished_at = self.now
        self.state.error = ErrorInfo(code="run.cancelled", message=event.reason)
        self.commands.append(
            Emit(
                event=RunCancelled(**self._run_fields(), reason=event.reason, cancelled_by=event.by)
            )
        )
        self.commands.append(FailRun(error=self.state.error))

    # -- scheduling ------------------------------------------------------------------

    def advance(self) -> None:
        """Start or skip every pending step whose dependencies are final; finish at the end."""
        if self.state.status is not RunStatus.RUNNING:
            return
        changed = True
        while changed and self.state.status is RunStatus.RUNNING:
            changed = False
            for step in self.d.steps:
                if step.id in self.d.compensation_ids:
                    continue
                st = self.state.steps[step.id]
                if st.status is not StepStatus.PENDING:
                    continue
                deps = [self.state.steps[d] for d in step.depends_on]
                if not all(dep.status.final for dep in deps):
                    continue
                changed = True
                reason = self._skip_reason(step, deps)
                if reason:
                    self.skip(step.id, reason)
                else:
                    self.begin(step)
                if self.state.status is not RunStatus.RUNNING:
                    return
        self._maybe_finish()

    def _skip_reason(self, step: StepBase, deps: list[StepState]) -> str | None:
        for cond in self.d.steps:
            if not isinstance(cond, ConditionStep):
                continue
            cst = self.state.steps[cond.id]
            taken = cst.output.get("branch") if isinstance(cst.output, dict) else None
            if step.id in cond.then and taken != "then":
                return f"branch not taken: {cond.id} chose {taken or 'nothing'}"
            if step.id in cond.else_ and taken != "else":
                return f"branch not taken: {cond.id} chose {taken or 'nothing'}"
        if deps and all(dep.status is StepStatus.SKIPPED for dep in deps):
            return "every dependency was skipped"
        return None

    def begin(self, step: StepBase) -> None:
        st = self.state.steps[step.id]
        st.started_at = self.now
        if isinstance(step, ConditionStep):
            try:
                result = truthy(evaluate(step.if_, self.context()))
            except (JMESPathError, TypeError, ValueError) as exc:
                self.step_failed(step.id, _input_error(step.id, exc))
                return
            st.status = StepStatus.COMPLETED
            st.finished_at = self.now
            st.output = {"result": result, "branch": "then" if result else "else"}
        elif isinstance(step, MapStep):
            self._begin_map(step, st)
        else:
            self.send(step.id, 1)

    def _begin_map(self, step: MapStep, st: StepState) -> None:
        try:
            items = evaluate(step.over, self.context())
        except (JMESPathError, TypeError, ValueError) as exc:
            self.step_failed(step.id, _input_error(step.id, exc))
            return
        if not isinstance(items, list):
            message = f"over {step.over!r} gave {type(items).__name__}, not a list"
            self.step_failed(step.id, ErrorInfo(code="map.not_a_list", message=message))
            return
        st.status = StepStatus.RUNNING
        st.attempt = 1
        st.items = items
        for index in range(len(items)):
            self.state.steps[item_key(step.id, index)] = StepState()
        self._fill_map(step)

    def _fill_map(self, step: MapStep) -> None:
        st = self.state.steps[step.id]
        keys = [item_key(step.id, i) for i in range(len(st.items or []))]
        active = sum(1 for k in keys if not self.state.steps[k].status.final) - sum(
            1 for k in keys if self.state.steps[k].status is StepStatus.PENDING
        )
        for key in keys:
            if active >= step.max_concurrency:
                break
            if self.state.steps[key].status is StepStatus.PENDING:
                self.state.steps[key].started_at = self.now
                self.send(key, 1)
                active += 1
        if all(self.state.steps[k].status is StepStatus.COMPLETED for k in keys):
            self.complete(step.id, [self.state.steps[k].output for k in keys])

    def send(self, key: str, attempt: int) -> None:
        """Send attempt `attempt` of step `key` (a request, or a child run)."""
        step = step_definition(self.d, key)
        st = self.state.steps[key]
        try:
            inputs = {n: evaluate(e, self.context(key)) for n, e in step.inputs.items()}
        except (JMESPathError, TypeError, ValueError) as exc:
            self.step_failed(key, _input_error(key, exc))
            return
        st.status = StepStatus.RUNNING
        st.attempt = attempt
        st.attempt_started_at = self.now
        st.started_at = st.started_at or self.now
        ref = StepRef(run_id=self.state.run_id, step_id=key, attempt=attempt)
        if isinstance(step, WorkflowStep):
            st.child_run_id = deterministic_id(self.state.run_id, key, str(attempt), "child")
            st.request_id = st.child_run_id
            self.commands.append(
                StartChild(
                    step_key=key,
                    attempt=attempt,
                    child_run_id=st.child_run_id,
                    workflow=step.workflow,
                    version=step.version,
                    input=inputs,
                )
            )
        else:
            st.request_id = deterministic_id(self.state.run_id, key, str(attempt))
            payload = build_request(
                step,
                ref,
                inputs,
                now=self.now,
                requested_by=self.state.requested_by,
                evaluation=self.state.evaluation,
            )
            self.commands.append(
                SendRequest(
                    step_key=key, attempt=attempt, request_id=st.request_id, payload=payload
                )
            )
            kind = kind_of(step)
            if kind is not None:
                timeout_ms = int(step.timeout_s * 1000) if step.timeout_s else None
                scheduled = StepScheduled(
                    **self._step_fields(ref, step),
                    request_id=st.request_id,
                    timeout_ms=timeout_ms,
                )
                self.commands.append(Emit(event=scheduled))
        if step.timeout_s:
            at = self.now + timedelta(seconds=step.timeout_s)
            self._timer(key, attempt, TimerKind.TIMEOUT, at)

    # -- outcomes --------------------------------------------------------------------

    def attempt_succeeded(self, key: str, output: Any) -> None:
        step = step_definition(self.d, key)
        if (
            isinstance(step, GuardrailStep)
            and isinstance(output, dict)
            and output.get("content") is None
        ):
            output = {**output, "content": self._inputs(key).get("content")}
        if step.output_schema is not None:
            problems = sorted(Draft202012Validator(step.output_schema).iter_errors(output), key=str)
            if problems:
                message = f"output does not match output_schema {describe(problems[0])}"
                self.attempt_failed(
                    key, ErrorInfo(code="step.output_invalid", message=message, retryable=True)
                )
                return
        self.complete(key, output)

    def complete(self, key: str, output: Any) -> None:
        st = self.state.steps[key]
        st.status = StepStatus.COMPLETED
        st.output = output
        st.error = None
        st.finished_at = self.now
        self._emit_step(key, "completed")
        self._after_step_final(key)

    def attempt_failed(self, key: str, error: ErrorInfo) -> None:
        step = step_definition(self.d, key)
        st = self.state.steps[key]
        if error.retryable and st.attempt < step.retry.max_attempts:
            delay = step.retry.delay_s(st.attempt)
            retry_at = self.now + timedelta(seconds=delay)
            st.status = StepStatus.WAITING_RETRY
            st.error = error
            kind = kind_of(step)
            if kind is not None:
                ref = StepRef(run_id=self.state.run_id, step_id=key, attempt=st.attempt)
                self.commands.append(
                    Emit(
                        event=StepRetrying(
                            **self._step_fields(ref, step),
                            error=error,
                            next_attempt=st.attempt + 1,
                            retry_at=retry_at,
                        )
                    )
                )
            self._timer(key, st.attempt, TimerKind.RETRY, retry_at)
            return
        self.step_failed(key, error)

    def step_failed(self, key: str, error: ErrorInfo) -> None:
        st = self.state.steps[key]
        st.status = StepStatus.FAILED
        st.error = error
        st.finished_at = self.now
        self._emit_step(key, "failed")
        step_id, index = split_key(key)
        if index is not None:
            self._stop_map_items(step_id)
            item_error = error.model_copy(
                update={"message": f"item {index} failed: {error.message}", "retryable": False}
            )
            self.step_failed(step_id, item_error)
            return
        if self.state.status is RunStatus.COMPENSATING:
            self._after_step_final(key)
            return
        step = self.d.step(key)
        if step.on_failure is OnFailure.CONTINUE:
            self.advance()
        elif step.on_failure is OnFailure.COMPENSATE and step.compensate:
            self._compensate(key, step.compensate, error)
        else:
            self.fail(error, key)

    def _after_step_final(self, key: str) -> None:
        step_id, index = split_key(key)
        if index is not None:
            step = self.d.step(step_id)
            if isinstance(step, MapStep) and self.state.steps[step_id].status is StepStatus.RUNNING:
                self._fill_map(step)
            return
        if self.state.status is RunStatus.COMPENSATING and key in self.d.compensation_ids:
            original = self.state.error or ErrorInfo(code="step.failed", message="step failed")
            st = self.state.steps[key]
            how = "succeeded" if st.status is StepStatus.COMPLETED else "also failed"
            message = f"{original.message}; compensation {key!r} {how}"
            self.state.status = RunStatus.RUNNING  # so that `fail` ends it as failed
            self.fail(original.model_copy(update={"message": message}), self.state.failed_step)
            return
        self.advance()

    def _compensate(self, failed: str, compensation: str, error: ErrorInfo) -> None:
        self._stop_everything(keep=compensation)
        self.state.status = RunStatus.COMPENSATING
        self.state.error = error
        self.state.failed_step = failed
        self.state.steps.setdefault(compensation, StepState())
        self.send(compensation, 1)

    def skip(self, key: str, reason: str) -> None:
        st = self.state.steps[key]
        st.status = StepStatus.SKIPPED
        st.reason = reason
        st.finished_at = self.now
        step = step_definition(self.d, key)
        if kind_of(step) is not None:
            ref = StepRef(run_id=self.state.run_id, step_id=key, attempt=1)
            self.commands.append(
                Emit(event=StepSkipped(**self._step_fields(ref, step), reason=reason))
            )

    def fail(self, error: ErrorInfo, failed_step: str | None) -> None:
        self._stop_everything()
        self.state.status = RunStatus.FAILED
        self.state.error = error
        self.state.failed_step = failed_step
        self.state.finished_at = self.now
        self.commands.append(
            Emit(
                event=RunFailed(
                    **self._run_fields(),
                    error=error,
                    failed_step=failed_step,
                    timings=self._timings(),
                )
            )
        )
        self.commands.append(FailRun(error=error, failed_step=failed_step))

    def _maybe_finish(self) -> None:
        normal = [s.id for s in self.d.steps if s.id not in self.d.compensation_ids]
        if not all(self.state.steps[k].status.final for k in normal):
            return
        try:
            output = self._output()
        except (JMESPathError, TypeError, ValueError) as exc:
            self.fail(ErrorInfo(code="run.output_invalid", message=str(exc)), None)
            return
        self.state.status = RunStatus.COMPLETED
        self.state.output = output
        self.state.finished_at = self.now
        self.commands.append(
            Emit(event=RunCompleted(**self._run_fields(), output=output, timings=self._timings()))
        )
        self.commands.append(CompleteRun(output=output))

    def _output(self) -> dict[str, Any]:
        if self.d.output:
            context = self.context()
            return {name: evaluate(expr, context) for name, expr in self.d.output.items()}
        depended = {d for s in self.d.steps for d in s.depends_on}
        return {
            s.id: self.state.steps[s.id].output
            for s in self.d.steps
            if s.id not in depended
            and s.id not in self.d.compensation_ids
            and self.state.steps[s.id].status is StepStatus.COMPLETED
        }

    # -- helpers ---------------------------------------------------------------------

    def context(self, key: str | None = None) -> dict[str, Any]:
        """What expressions see: the input, top-level steps' outputs, a map item's item."""
        steps = {
            step_id: {"output": st.output, "status": st.status.value}
            for step_id, st in self.state.steps.items()
            if "/" not in step_id
        }
        context: dict[str, Any] = {"input": self.state.input, "steps": steps}
        if key is not None:
            step_id, index = split_key(key)
            if index is not None:
                context["item"] = (self.state.steps[step_id].items or [])[index]
                context["index"] = index
        return context

    def _inputs(self, key: str) -> dict[str, Any]:
        step = step_definition(self.d, key)
        try:
            return {n: evaluate(e, self.context(key)) for n, e in step.inputs.items()}
        except (JMESPathError, TypeError, ValueError):
            return {}

    def _accepting(self, key: str) -> bool:
        if self.state.status is RunStatus.RUNNING:
            return True
        return self.state.status is RunStatus.COMPENSATING and key in self.d.compensation_ids

    def _key_of_request(self, request_id: str) -> str | None:
        for key, st in self.state.steps.items():
            if st.request_id == request_id:
                return key
        return None

    def _timer(self, key: str, attempt: int, kind: TimerKind, at: datetime) -> None:
        tid = timer_id(self.state.run_id, key, attempt, kind)
        self.commands.append(
            ScheduleTimer(timer_id=tid, at=at, step_key=key, attempt=attempt, timer=kind)
        )

    def _cancel_timeout(self, key: str, st: StepState) -> None:
        if step_definition(self.d, key).timeout_s:
            tid = timer_id(self.state.run_id, key, st.attempt, TimerKind.TIMEOUT)
            self.commands.append(CancelTimer(timer_id=tid))

    def _stop_map_items(self, map_id: str) -> None:
        prefix = f"{map_id}/"
        for key, st in self.state.steps.items():
            if key.startswith(prefix) and not st.status.final:
                self._stop(key, st)

    def _stop_everything(self, keep: str | None = None) -> None:
        for key, st in self.state.steps.items():
            if key != keep and not st.status.final:
                self._stop(key, st)

    def _stop(self, key: str, st: StepState) -> None:
        if st.status is StepStatus.RUNNING:
            self._cancel_timeout(key, st)
            if st.child_run_id:
                self.commands.append(CancelChild(child_run_id=st.child_run_id, reason="stopped"))
            if isinstance(step_definition(self.d, key), ApprovalStep) and st.request_id:
                # Approvers must not keep deciding a step nobody waits for any more.
                ref = StepRef(run_id=self.state.run_id, step_id=key, attempt=st.attempt)
                withdraw = ApprovalCancelRequested(
                    step=ref,
                    request_id=st.request_id,
                    reason=f"run {self.state.status.value}: the step is no longer needed",
                )
                self.commands.append(Emit(event=withdraw))
        elif st.status is StepStatus.WAITING_RETRY:
            tid = timer_id(self.state.run_id, key, st.attempt, TimerKind.RETRY)
            self.commands.append(CancelTimer(timer_id=tid))
        st.status = StepStatus.CANCELLED
        st.finished_at = self.now

    def _emit_step(self, key: str, outcome: str) -> None:
        step = step_definition(self.d, key)
        if kind_of(step) is None:
            return
        st = self.state.steps[key]
        ref = StepRef(run_id=self.state.run_id, step_id=key, attempt=max(st.attempt, 1))
        started = st.attempt_started_at or self.now
        duration = max(0, int((self.now - started).total_seconds() * 1000))
        fields = self._step_fields(ref, step)
        if outcome == "completed":
            self.commands.append(Emit(event=StepCompleted(**fields, duration_ms=duration)))
        elif st.error is not None:
            event = StepFailed(**fields, error=st.error, duration_ms=duration)
            self.commands.append(Emit(event=event))

    def _run_fields(self) -> dict[str, Any]:
        s = self.state
        return {"run_id": s.run_id, "task_id": s.task_id, "workflow": s.workflow}

    def _step_fields(self, ref: StepRef, step: StepBase) -> dict[str, Any]:
        return {"step": ref, "kind": kind_of(step), "workflow": self.state.workflow}

    def _timings(self) -> Timings:
        started = self.state.started_at or self.now
        duration = max(0, int((self.now - started).total_seconds() * 1000))
        return Timings(started_at=started, finished_at=self.now, duration_ms=duration)


def _input_error(key: str, exc: Exception) -> ErrorInfo:
    return ErrorInfo(code="step.input_invalid", message=f"inputs of {key!r}: {exc}")
