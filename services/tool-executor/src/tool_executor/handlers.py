"""Handling tool.requests in three phases: decide (short tx), call (no tx), record (short tx)."""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics

from agentbus.bus import IoContext, TransientError
from agentbus.storage import UnitOfWork
from agentbus.telemetry import bind_log_context
from contracts.envelope import Envelope
from contracts.events.tool import ToolRequested

from .domain import (
    OUTCOME_UNKNOWN,
    Denial,
    SideEffect,
    ToolDefinition,
    ToolError,
    at_most_once,
    authorize,
    check_approval,
    outcome_unknown,
)
from .egress import EgressPolicy
from .executor import CallOutcome, Executor
from .registry_cache import RegistryCache
from .replies import completed_envelopes
from .repositories import (
    UNKNOWN,
    ApprovalRepository,
    CallRepository,
)
from .schemas import first_problem
from .secrets import SecretResolver
from .settings import Limits
from .store import CallRow
from .tools import ToolCall

__all__ = ["ExecuteTool", "Plan"]

log = logging.getLogger("tool_executor.handlers")

_FINISHED_KEPT = 512


@dataclass(frozen=True)
class Plan:
    """What prepare decided: deny, replay a stored result, report `unknown`, or run `call`."""

    request: ToolRequested
    definition: ToolDefinition | None = None
    denial: Denial | None = None
    stored: Any = None
    stored_duration_ms: int = 0
    replay: bool = False
    call: ToolCall | None = None
    reserved: bool = False
    at_most_once: bool = False
    unknown: ToolError | None = None
    event_id: str = ""


class ExecuteTool:
    """The IoHandler for `tool.requests` (prepare, perform, record)."""

    def __init__(
        self,
        executor: Executor,
        secrets: SecretResolver,
        limits: Limits,
        *,
        service: str = "tool-executor",
    ) -> None:
        self.executor = executor
        self.secrets = secrets
        self.limits = limits
        self.service = service
        self.registry = RegistryCache(limits.registry_cache_s)
        # Outcomes of at-most-once calls by event id, until a later record no longer needs
        # them: when recording fails (a database fault) the runtime runs all three phases
        # again, and the call that did finish here is then recorded, not called again nor
        # reported unknown. Bounded; after a crash it is empty, and the outcome is unknown.
        self._finished: OrderedDict[str, CallOutcome] = OrderedDict()
        meter = metrics.get_meter("tool_executor")
        self._calls = meter.create_counter(
            "tool_executor.calls", unit="{call}", description="tool requests by tool and status"
        )
        self._duration = meter.create_histogram(
            "tool_executor.call.duration", unit="ms", description="tool call duration"
        )

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> Plan:
        """Resolve, authorize, validate, check approval and the idempotency store."""
        request: ToolRequested = envelope.data
        tenant = uow.tenant_id
        definition = await self.registry.definition(uow, request.tool, request.version)
        if definition is None:
            pinned = f" version {request.version}" if request.version else ""
            return Plan(
                request,
                denial=Denial(
                    code="tool.unknown",
                    message=f"tool {request.tool!r}{pinned} is not registered for this tenant",
                ),
            )
        grant = await self.registry.grant(uow, definition.name)
        denial = authorize(
            definition,
            grant,
            tenant_id=tenant,
            caller_scopes=list(request.scopes),
            caller_roles=list(request.roles),
        )
        if denial is None:
            denial = _argument_problem(definition, request.arguments)
        if denial is None and request.evaluation and definition.side_effect is SideEffect.WRITE:
            return _evaluation_plan(request, definition)
        if denial is None:
            denial = await self._approval_problem(definition, request, uow)
        if denial is not None or grant is None:
            return Plan(request, definition, denial=denial)
        reserved = strict = False
        if definition.side_effect is SideEffect.WRITE:
            strict = at_most_once(definition, forwards_key=self.executor.forwards_key(definition))
            stored = await CallRepository(uow).reserve(
                request.idempotency_key,
                event_id=envelope.id,
                tool=definition.name,
                version=definition.version,
                lease_s=self.limits.reservation_lease_s,
                # This process finished the call: its own reservation is taken over.
                at_most_once=strict and envelope.id not in self._finished,
            )
            if stored is not None:
                return _decided_plan(request, definition, stored)
            reserved = True
        call = ToolCall(
            definition=definition,
            arguments=dict(request.arguments),
            tenant_id=tenant,
            idempotency_key=request.idempotency_key,
            secrets=self.secrets,
            egress=EgressPolicy(hosts=grant.hosts, allowed_networks=grant.allowed_networks),
        )
        return Plan(
            request,
            definition,
            call=call,
            reserved=reserved,
            at_most_once=strict,
            event_id=envelope.id,
        )

    async def perform(self, plan: Plan, ctx: IoContext) -> tuple[Plan, CallOutcome | None]:
        """Run the call (no transaction is open here); denials and replays pass through."""
        step = plan.request.step
        with bind_log_context(step_id=step.step_id, tool=plan.request.tool):
            if plan.unknown is not None:
                log.warning(
                    "call outcome unknown: not called again",
                    extra={"fields": {"idempotency_key": plan.request.idempotency_key}},
                )
                return plan, CallOutcome(error=plan.unknown)
            if plan.call is None:
                return plan, None
            finished = self._finished.get(plan.event_id) if plan.at_most_once else None
            if finished is not None:
                return plan, finished  # called already; only its record had failed
            outcome = await self.executor.execute(plan.call, at_most_once=plan.at_most_once)
        error = outcome.error
        if plan.at_most_once and error is not None and error.maybe_applied:
            # The call left and failed on the way back: it may have taken effect.
            why = (
                "the call timed out after it was sent"
                if error.code == "tool.timeout"
                else f"the call ended with {error.code} after it was sent"
            )
            unknown = outcome_unknown(plan.request.idempotency_key, plan.request.tool, why)
            outcome = dataclasses.replace(outcome, error=unknown)
        if plan.at_most_once:
            self._finished[plan.event_id] = outcome
            while len(self._finished) > _FINISHED_KEPT:
                self._finished.popitem(last=False)
        return plan, outcome

    async def record(
        self, envelope: Envelope[Any], result: tuple[Plan, CallOutcome | None], uow: UnitOfWork
    ) -> None:
        """Store the result under its key, reply on tool.results and audit, in one tx."""
        plan, outcome = result
        if plan.reserved and outcome is not None and plan.definition is not None:
            calls = CallRepository(uow)
            if outcome.succeeded:
                await calls.succeed(
                    plan.request.idempotency_key,
                    result=outcome.result,
                    duration_ms=outcome.duration_ms,
                    tool=plan.definition.name,
                    version=plan.definition.version,
                )
            elif outcome.error is not None and outcome.error.code == OUTCOME_UNKNOWN:
                await calls.mark_unknown(plan.request.idempotency_key)
            else:
                await calls.release(plan.request.idempotency_key)
        for reply in completed_envelopes(envelope, plan, outcome, service=self.service):
            uow.publish(reply)
        status = (
            "denied"
            if plan.denial or (outcome and outcome.error and outcome.error.denied)
            else "succeeded"
            if outcome is None or outcome.succeeded
            else "failed"
        )
        self._calls.add(1, {"tool": plan.request.tool, "status": status})
        if outcome is not None:
            self._duration.record(outcome.duration_ms, {"tool": plan.request.tool})

    async def _approval_problem(
        self, definition: ToolDefinition, request: ToolRequested, uow: UnitOfWork
    ) -> Denial | None:
        if not definition.needs_approval:
            return None
        claimed = request.approval
        if claimed is None:
            return check_approval(
                definition, request.arguments, claimed_hash=None, approved_hash=None, approved=False
            )
        row = await ApprovalRepository(uow).by_approval_id(claimed.approval_id)
        if row is None:
            # Decisions travel on another topic and may not have arrived yet: retry, and
            # let the runtime dead-letter (with a failed reply) an id that never appears.
            raise TransientError(f"approval {claimed.approval_id!r} is not known (yet)")
        same_step = row.run_id == request.step.run_id and row.tool in {None, definition.name}
        return check_approval(
            definition,
            request.arguments,
            claimed_hash=claimed.arguments_sha256,
            approved_hash=row.arguments_sha256 if same_step else None,
            approved=row.outcome == "approved",
        )


def _decided_plan(request: ToolRequested, definition: ToolDefinition, row: CallRow) -> Plan:
    """The key's row decides: replay the stored result, or report the unknown outcome."""
    if row.state == UNKNOWN:
        why = "an earlier attempt started and never recorded how it ended"
        return Plan(
            request,
            definition,
            unknown=outcome_unknown(request.idempotency_key, definition.name, why),
        )
    return Plan(
        request, definition, stored=row.result, stored_duration_ms=row.duration_ms, replay=True
    )


def _evaluation_plan(request: ToolRequested, definition: ToolDefinition) -> Plan:
    """An evaluation run never causes a side effect: its fixture answers, or it is refused."""
    fixtures = request.evaluation.fixtures if request.evaluation else {}
    if definition.name in fixtures:
        return Plan(request, definition, stored=fixtures[definition.name], replay=True)
    return Plan(
        request,
        definition,
        denial=Denial(
            code="tool.evaluation_refused",
            message=f"write tool {definition.name!r} has no fixture in this evaluation run",
        ),
    )


def _argument_problem(definition: ToolDefinition, arguments: dict[str, Any]) -> Denial | None:
    problem = first_problem(definition.arguments_schema, arguments)
    if problem is None:
        return None
    field, reason = problem
    return Denial(
        code="tool.invalid_arguments",
        message=f"argument {field!r} {reason}",
        details={"field": field},
    )
