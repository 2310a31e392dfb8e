"""The run state machine: DAG order, branches, map, retries, timeouts, cancel, late replies."""

from __future__ import annotations

from planner.state import (
    CancelRequested,
    CancelTimer,
    CompleteRun,
    Emit,
    FailRun,
    RunStatus,
    ScheduleTimer,
    StartChild,
    StepStatus,
    TimerFired,
    TimerKind,
)

from contracts.events.model import ModelRequested
from contracts.events.run import RunCompleted, StepRetrying, StepSkipped
from contracts.events.tool import ToolRequested
from contracts.types import Actor, ActorKind, ErrorInfo

from .simulate import Sim

DIAMOND = """
name: diamond
version: 1.0.0
output:
  total: steps.join.output.total
steps:
  - id: fetch
    type: tool
    tool: fetch-order
    inputs: {order: input.order_id}
  - id: left
    type: tool
    tool: price
    depends_on: [fetch]
    inputs: {o: steps.fetch.output}
  - id: right
    type: llm
    prompt: "Summarise {{ o }}"
    depends_on: [fetch]
    inputs: {o: steps.fetch.output}
  - id: join
    type: tool
    tool: add
    depends_on: [left, right]
    inputs: {a: steps.left.output, b: steps.right.output}
"""


def test_independent_steps_are_sent_together_and_the_join_waits():
    sim = Sim(DIAMOND, {"order_id": "o-1"})
    first = sim.requests(sim.start())
    assert [r.step_key for r in first] == ["fetch"]
    assert isinstance(first[0].payload, ToolRequested)
    assert first[0].payload.arguments == {"order": "o-1"}
    parallel = sim.requests(sim.answer(first[0], {"id": "o-1"}))
    assert sorted(r.step_key for r in parallel) == ["left", "right"]
    model = next(r for r in parallel if r.step_key == "right").payload
    assert isinstance(model, ModelRequested)
    assert model.messages[-1].content == 'Summarise {"id":"o-1"}'
    assert sim.requests(sim.answer(parallel[0], 1)) == []  # join waits for both
    join = sim.requests(sim.answer(parallel[1], 2))
    assert [r.step_key for r in join] == ["join"]
    done = sim.answer(join[0], {"total": 3})
    assert CompleteRun(output={"total": 3}) in done
    assert any(isinstance(c, Emit) and isinstance(c.event, RunCompleted) for c in done)
    assert sim.state.status is RunStatus.COMPLETED


def test_a_tool_request_holds_the_steps_scopes_for_the_runs_requester():
    sim = Sim(
        """
name: scoped
version: 1.0.0
steps:
  - {id: refund, type: tool, tool: payments.refund, scopes: ["payments:refund"]}
  - {id: look, type: tool, tool: orders.lookup}
""",
        {},
    )
    requests = {r.step_key: r.payload for r in sim.requests(sim.start())}
    assert requests["refund"].scopes == ["payments:refund"]
    assert requests["look"].scopes == [], "a step holds only the scopes it declares"
    assert requests["refund"].on_behalf_of == Actor(kind=ActorKind.SYSTEM, id="crm")


def test_duplicate_and_late_replies_change_nothing():
    sim = Sim(DIAMOND, {"order_id": "o-1"})
    fetch = sim.requests(sim.start())[0]
    sim.answer(fetch, {"id": "o-1"})
    before = sim.state.model_copy(deep=True)
    assert sim.answer(fetch, {"id": "other"}) == []  # duplicate
    assert sim.state == before
    stale = fetch.model_copy(update={"attempt": 7})
    assert sim.answer(stale, {}) == []
    wrong_id = fetch.model_copy(update={"request_id": "forged"})
    assert sim.answer(wrong_id, {}) == []
    assert sim.state == before


def test_decide_is_deterministic():
    one, two = Sim(DIAMOND, {"order_id": "x"}), Sim(DIAMOND, {"order_id": "x"})
    assert one.start() == two.start()
    assert one.state == two.state


RETRY = """
name: retry
version: 1.0.0
steps:
  - id: call
    type: tool
    tool: flaky
    timeout_s: 5
    retry: {max_attempts: 3, backoff_s: 2, multiplier: 3}
"""


def test_timeout_retries_with_backoff_then_fails_the_run_with_the_reason():
    sim = Sim(RETRY)
    commands = sim.start()
    timers = [c for c in commands if isinstance(c, ScheduleTimer)]
    assert [(t.timer, (t.at - sim.clock).total_seconds()) for t in timers] == [
        (TimerKind.TIMEOUT, 5.0)
    ]
    for attempt, backoff in ((1, 2.0), (2, 6.0)):
        out = sim.feed(
            TimerFired(now=sim.tick(5), step_key="call", attempt=attempt, timer=TimerKind.TIMEOUT)
        )
        retrying = [c.event for c in out if isinstance(c, Emit)]
        assert isinstance(retrying[0], StepRetrying)
        retry_timer = next(c for c in out if isinstance(c, ScheduleTimer))
        assert retry_timer.timer is TimerKind.RETRY
        assert (retry_timer.at - sim.clock).total_seconds() == backoff
        assert sim.state.steps["call"].status is StepStatus.WAITING_RETRY
        # an early retry timer of another attempt does nothing
        assert (
            sim.feed(
                TimerFired(
                    now=sim.clock, step_key="call", attempt=attempt + 5, timer=TimerKind.RETRY
                )
            )
            == []
        )
        resent = sim.requests(
            sim.feed(
                TimerFired(
                    now=retry_timer.at, step_key="call", attempt=attempt, timer=TimerKind.RETRY
                )
            )
        )
        assert [r.attempt for r in resent] == [attempt + 1]
        sim.clock = retry_timer.at
    final = sim.feed(
        TimerFired(now=sim.tick(5), step_key="call", attempt=3, timer=TimerKind.TIMEOUT)
    )
    failed = next(c for c in final if isinstance(c, FailRun))
    assert failed.failed_step == "call"
    assert failed.error.code == "step.timeout"
    assert "attempt 3 timed out after 5.0s" in failed.error.message
    assert sim.state.status is RunStatus.FAILED


def test_reply_cancels_the_timeout_and_a_late_timer_is_ignored():
    sim = Sim(RETRY)
    request = sim.requests(sim.start())[0]
    out = sim.answer(request, {"ok": True})
    assert CancelTimer(timer_id="run-1/call/1/timeout") in out
    assert (
        sim.feed(TimerFired(now=sim.tick(9), step_key="call", attempt=1, timer=TimerKind.TIMEOUT))
        == []
    )
    assert sim.state.status is RunStatus.COMPLETED


def test_non_retryable_error_fails_at_once_with_its_cause():
    sim = Sim(RETRY)
    request = sim.requests(sim.start())[0]
    dlq = ErrorInfo(code="request.dead_lettered", message="request dead-lettered: bad args")
    out = sim.answer(request, error=dlq)
    failed = next(c for c in out if isinstance(c, FailRun))
    assert failed.error.message == "request dead-lettered: bad args"
    assert sim.requests(out) == []


BRANCHES = """
name: branches
version: 1.0.0
steps:
  - id: score
    type: tool
    tool: score
  - id: big
    type: condition
    if: "steps.score.output.amount > `100`"
    depends_on: [score]
    then: [review]
    else: [auto]
  - id: review
    type: approval
    subject: "Refund of {{ amount }}"
    depends_on: [big]
    inputs: {amount: steps.score.output.amount}
  - id: auto
    type: tool
    tool: refund
    depends_on: [big]
  - id: after_review
    type: tool
    tool: notify
    depends_on: [review]
  - id: done
    type: tool
    tool: close
    depends_on: [after_review, auto]
"""


def test_condition_skips_the_untaken_branch_and_its_dependants():
    sim = Sim(BRANCHES)
    score = sim.requests(sim.start())[0]
    out = sim.answer(score, {"amount": 20})
    assert [r.step_key for r in sim.requests(out)] == ["auto"]
    skipped = {
        c.event.step.step_id
        for c in out
        if isinstance(c, Emit) and isinstance(c.event, StepSkipped)
    }
    assert skipped == {"review", "after_review"}
    done = sim.requests(sim.answer(sim.requests(out)[0], "refunded"))
    assert [r.step_key for r in done] == ["done"]
    sim.answer(done[0], "closed")
    assert sim.state.status is RunStatus.COMPLETED
    assert sim.state.steps["big"].output == {"result": False, "branch": "else"}


MAP = """
name: mapper
version: 1.0.0
output:
  labels: steps.classify.output
steps:
  - id: classify
    type: map
    over: input.lines
    max_concurrency: 2
    step:
      type: tool
      tool: classify
      inputs: {line: item, n: index}
"""


def test_map_fans_out_within_its_concurrency_and_fans_in_in_order():
    sim = Sim(MAP, {"lines": ["a", "b", "c"]})
    first = sim.requests(sim.start())
    assert [r.step_key for r in first] == ["classify/0", "classify/1"]
    assert first[1].payload.arguments == {"line": "b", "n": 1}
    third = sim.requests(sim.answer(first[1], "B"))
    assert [r.step_key for r in third] == ["classify/2"]
    sim.answer(third[0], "C")
    out = sim.answer(first[0], "A")
    assert CompleteRun(output={"labels": ["A", "B", "C"]}) in out


def test_map_over_an_empty_list_completes():
    sim = Sim(MAP, {"lines": []})
    assert CompleteRun(output={"labels": []}) in sim.start()


def test_map_item_failure_fails_the_map_and_the_run():
    sim = Sim(MAP, {"lines": ["a", "b"]})
    first = sim.requests(sim.start())
    out = sim.answer(first[0], error=ErrorInfo(code="tool.failed", message="boom"))
    failed = next(c for c in out if isinstance(c, FailRun))
    assert failed.failed_step == "classify"
    assert "item 0 failed: boom" in failed.error.message
    assert sim.answer(first[1], "late") == []


def test_cancel_stops_timers_and_ignores_later_replies():
    sim = Sim(RETRY)
    request = sim.requests(sim.start())[0]
    by = Actor(kind=ActorKind.USER, id="ops")
    out = sim.feed(CancelRequested(now=sim.tick(1), reason="no longer needed", by=by))
    assert CancelTimer(timer_id="run-1/call/1/timeout") in out
    assert next(c for c in out if isinstance(c, FailRun)).error.code == "run.cancelled"
    assert sim.state.status is RunStatus.CANCELLED
    assert sim.answer(request, {"ok": 1}) == []
    assert sim.feed(CancelRequested(now=sim.tick(1), reason="again", by=by)) == []


COMPENSATE = """
name: saga
version: 1.0.0
steps:
  - id: charge
    type: tool
    tool: charge
  - id: ship
    type: tool
    tool: ship
    depends_on: [charge]
    on_failure: compensate
    compensate: refund
  - id: refund
    type: tool
    tool: refund
    inputs: {charge: steps.charge.output}
"""


def test_compensation_runs_then_the_run_fails():
    sim = Sim(COMPENSATE)
    charge = sim.requests(sim.start())[0]
    ship = sim.requests(sim.answer(charge, {"id": "ch_1"}))[0]
    out = sim.answer(ship, error=ErrorInfo(code="tool.failed", message="no stock"))
    refund = sim.requests(out)
    assert [r.step_key for r in refund] == ["refund"]
    assert refund[0].payload.arguments == {"charge": {"id": "ch_1"}}
    assert sim.state.status is RunStatus.COMPENSATING
    final = sim.answer(refund[0], {"refunded": True})
    failed = next(c for c in final if isinstance(c, FailRun))
    assert failed.failed_step == "ship"
    assert failed.error.message == "no stock; compensation 'refund' succeeded"


CONTINUE = """
name: cont
version: 1.0.0
steps:
  - id: enrich
    type: tool
    tool: enrich
    on_failure: continue
  - id: summary
    type: llm
    prompt: "x {{ e }}"
    depends_on: [enrich]
    inputs: {e: steps.enrich.output}
"""


def test_continue_lets_dependants_run_without_the_output():
    sim = Sim(CONTINUE)
    enrich = sim.requests(sim.start())[0]
    out = sim.answer(enrich, error=ErrorInfo(code="tool.failed", message="down"))
    summary = sim.requests(out)
    assert summary[0].payload.messages[-1].content == "x null"
    sim.answer(summary[0], "text")
    assert sim.state.status is RunStatus.COMPLETED


SUB = """
name: parent
version: 1.0.0
steps:
  - id: child
    type: workflow
    workflow: summarise
    inputs: {text: input.text}
"""


def test_sub_workflow_step_starts_a_child_and_takes_its_output():
    sim = Sim(SUB, {"text": "hi"})
    start = next(c for c in sim.start() if isinstance(c, StartChild))
    assert start.input == {"text": "hi"}
    from planner.state import ChildFinished

    out = sim.feed(
        ChildFinished(
            now=sim.tick(1),
            step_key="child",
            attempt=1,
            child_run_id=start.child_run_id,
            output={"summary": "s"},
        )
    )
    assert CompleteRun(output={"child": {"summary": "s"}}) in out


def test_output_schema_mismatch_is_retried_then_fails():
    sim = Sim(
        """
name: s
version: 1.0.0
steps:
  - id: extract
    type: llm
    prompt: p
    retry: {max_attempts: 2, backoff_s: 0}
    output_schema: {type: object, required: [amount]}
"""
    )
    first = sim.requests(sim.start())[0]
    out = sim.answer(first, {"nope": 1})
    timer = next(c for c in out if isinstance(c, ScheduleTimer))
    second = sim.requests(
        sim.feed(TimerFired(now=timer.at, step_key="extract", attempt=1, timer=TimerKind.RETRY))
    )[0]
    failed = next(c for c in sim.answer(second, {"nope": 2}) if isinstance(c, FailRun))
    assert failed.error.code == "step.output_invalid"


def test_cancelling_a_run_withdraws_its_pending_approval():
    sim = Sim(BRANCHES)
    score = sim.requests(sim.start())[0]
    review = sim.requests(sim.answer(score, {"amount": 500}))[0]
    assert review.step_key == "review"
    by = Actor(kind=ActorKind.USER, id="ops")
    out = sim.feed(CancelRequested(now=sim.tick(1), reason="fraud", by=by))
    withdrawn = [
        c.event
        for c in out
        if isinstance(c, Emit) and c.event.EVENT_TYPE.endswith("approval.cancel_requested.v1")
    ]
    assert [(w.step.step_id, w.request_id) for w in withdrawn] == [("review", review.request_id)]


def test_any_reply_order_gives_the_same_outcome():
    import itertools

    outputs = set()
    for order in itertools.permutations(["left", "right"]):
        sim = Sim(DIAMOND, {"order_id": "o-1"})
        fetch = sim.requests(sim.start())[0]
        pending = {r.step_key: r for r in sim.requests(sim.answer(fetch, {"id": "o-1"}))}
        join = []
        for key in order:
            join = sim.requests(sim.answer(pending[key], 1 if key == "left" else 2)) or join
        done = sim.answer(join[0], {"total": 3})
        outputs.add(next(c for c in done if isinstance(c, CompleteRun)).output["total"])
        assert sim.state.status is RunStatus.COMPLETED
    assert outputs == {3}


def test_a_map_item_is_retried_on_its_own_and_times_out_on_its_own():
    sim = Sim(
        """
name: items
version: 1.0.0
steps:
  - id: each
    type: map
    over: input.xs
    step:
      type: tool
      tool: t
      timeout_s: 2
      retry: {max_attempts: 2, backoff_s: 1}
      inputs: {x: item}
""",
        {"xs": [1, 2]},
    )
    first = sim.requests(sim.start())
    assert [r.step_key for r in first] == ["each/0", "each/1"]
    sim.answer(first[1], "two")
    out = sim.feed(
        TimerFired(now=sim.tick(2), step_key="each/0", attempt=1, timer=TimerKind.TIMEOUT)
    )
    retry = next(c for c in out if isinstance(c, ScheduleTimer) and c.timer is TimerKind.RETRY)
    again = sim.requests(
        sim.feed(TimerFired(now=retry.at, step_key="each/0", attempt=1, timer=TimerKind.RETRY))
    )
    assert [(r.step_key, r.attempt, r.payload.arguments) for r in again] == [
        ("each/0", 2, {"x": 1})
    ]
    done = sim.answer(again[0], "one")
    assert CompleteRun(output={"each": ["one", "two"]}) in done


def test_a_failed_child_fails_the_workflow_step():
    from planner.state import ChildFinished

    sim = Sim(SUB, {"text": "hi"})
    start = next(c for c in sim.start() if isinstance(c, StartChild))
    out = sim.feed(
        ChildFinished(
            now=sim.tick(1),
            step_key="child",
            attempt=1,
            child_run_id=start.child_run_id,
            error=ErrorInfo(code="tool.failed", message="child broke"),
        )
    )
    failed = next(c for c in out if isinstance(c, FailRun))
    assert (failed.failed_step, failed.error.message) == ("child", "child broke")


def test_a_failing_compensation_still_ends_the_run_with_both_causes():
    sim = Sim(COMPENSATE)
    charge = sim.requests(sim.start())[0]
    ship = sim.requests(sim.answer(charge, {"id": "ch_1"}))[0]
    refund = sim.requests(
        sim.answer(ship, error=ErrorInfo(code="tool.failed", message="no stock"))
    )[0]
    final = sim.answer(refund, error=ErrorInfo(code="tool.failed", message="refund down"))
    failed = next(c for c in final if isinstance(c, FailRun))
    assert failed.error.message == "no stock; compensation 'refund' also failed"
    assert sim.state.status is RunStatus.FAILED


def test_a_condition_that_cannot_be_evaluated_fails_with_the_step_named():
    sim = Sim(
        """
name: badif
version: 1.0.0
steps:
  - {id: a, type: tool, tool: t}
  - id: c
    type: condition
    depends_on: [a]
    if: "length(steps.a.output) > `1`"
    then: [b]
  - {id: b, type: tool, tool: t, depends_on: [c]}
"""
    )
    a = sim.requests(sim.start())[0]
    out = sim.answer(a, 42)  # length() of a number is a JMESPath type error
    failed = next(c for c in out if isinstance(c, FailRun))
    assert failed.failed_step == "c"
    assert failed.error.code == "step.input_invalid"
