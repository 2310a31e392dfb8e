"""Checks and restores, shared by the Kafka consumer and the HTTP API."""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import Meter

from agentbus.bus import PermanentError
from agentbus.guard import TOKEN_PATTERN, Guard, PolicyNotFoundError, PolicyStore, Verdict
from agentbus.guard.content import rebuild, strings
from agentbus.storage import UnitOfWork
from agentbus.telemetry import bind_log_context, current_traceparent
from contracts.audit import record, service_actor
from contracts.envelope import Envelope, new_envelope
from contracts.events import Direction, GuardrailCheckRequested
from contracts.events.audit import AuditOutcome
from contracts.types import Actor, ActorKind

from .domain import audit_fields, audit_outcome, contract_verdict
from .store import VaultRepository
from .vault import VaultCipher

__all__ = ["Checker", "EngineError", "Restored", "user_actor"]

log = logging.getLogger("guardrail")
SERVICE = "guardrail"


class EngineError(PermanentError):
    """The detection engine failed on some content; the message names only the error type."""


@dataclass(frozen=True)
class Restored:
    """Restored content, or the tokens this tenant's vault does not hold."""

    content: Any
    missing: list[str]


@dataclass
class Checker:
    """Runs a check under the tenant's policy and records vault rows, verdict and audit."""

    guard: Guard
    policies: PolicyStore
    cipher: VaultCipher
    verdicts_topic: str
    audit_topic: str
    meter: Meter

    def __post_init__(self) -> None:
        self._decisions = self.meter.create_counter(
            "guardrail.checks", unit="{check}", description="checks by decision and direction"
        )
        self._latency = self.meter.create_histogram(
            "guardrail.check.duration", unit="ms", description="detection and policy time"
        )

    def evaluate(
        self,
        tenant_id: str,
        content: Any,
        *,
        policy: str | None,
        direction: Direction | None,
        output_schema: dict[str, Any] | None,
    ) -> Verdict:
        """The verdict alone (pure CPU); PolicyNotFoundError for an unknown policy."""
        compiled = self.policies.get(tenant_id, policy)
        started = time.perf_counter()
        try:
            verdict = self.guard.check(
                content, compiled, self.cipher.keys(tenant_id), output_schema=output_schema
            )
        except Exception as exc:
            # An exception message may quote the content (a value, a secret): keep only
            # its type and the code locations, so no log, DLQ header or reply repeats it.
            where = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "guard engine failed",
                extra={"fields": {"error": type(exc).__name__, "traceback": where}},
            )
            raise EngineError(f"guard engine failed: {type(exc).__name__}") from None
        self._latency.record((time.perf_counter() - started) * 1000)
        attributes = {"decision": verdict.decision.value, "direction": str(direction or "none")}
        self._decisions.add(1, attributes)
        log.info(
            "check decided",
            extra={
                "fields": {
                    "decision": verdict.decision.value,
                    "policy": f"{verdict.policy_name}@{verdict.policy_version}",
                    "kinds": sorted({f.kind for f in verdict.findings}),
                }
            },
        )
        return verdict

    async def on_request(self, envelope: Envelope[Any], uow: UnitOfWork) -> None:
        """Consumer of guardrail.requests: one transaction for vault, verdict and audit."""
        request: GuardrailCheckRequested = envelope.data
        try:
            with bind_log_context(step_id=request.step.step_id):
                verdict = self.evaluate(
                    uow.tenant_id,
                    request.content,
                    policy=request.policy,
                    direction=request.direction,
                    output_schema=request.output_schema,
                )
        except PolicyNotFoundError as exc:
            # Configuration, not content: dead-letter (with a failed reply) and redrive later.
            raise PermanentError(str(exc)) from exc
        await VaultRepository(uow, self.cipher).store(verdict.vault)
        data = contract_verdict(
            verdict, step=request.step, request_id=envelope.id, direction=request.direction
        )
        uow.publish(
            new_envelope(
                data,
                source=SERVICE,
                tenant_id=uow.tenant_id,
                run_id=request.step.run_id,
                event_id=f"{envelope.id}:verdict",
                # No explicit traceparent: the outbox stamps the consumer span's, so the
                # verdict continues the request's trace as its child.
            ),
            topic=self.verdicts_topic,
        )
        self.audit_check(uow, verdict, envelope.id, request, traceparent=current_traceparent())

    def audit_check(
        self,
        uow: UnitOfWork,
        verdict: Verdict,
        request_id: str,
        request: GuardrailCheckRequested | None,
        *,
        traceparent: str | None,
        actor: Actor | None = None,
        direction: Direction | None = None,
    ) -> None:
        """Publish the audit record of a check through the outbox."""
        uow.publish(
            record(
                source=SERVICE,
                tenant_id=uow.tenant_id,
                actor=service_actor(SERVICE),
                on_behalf_of=actor,
                action="guardrail.check",
                resource_type="guardrail_check",
                resource_id=request_id,
                outcome=audit_outcome(verdict.decision),
                step=request.step if request else None,
                traceparent=traceparent,
                event_id=f"{request_id}:audit",
                **audit_fields(verdict, request.direction if request else direction),
            ),
            topic=self.audit_topic,
        )

    async def restore(self, uow: UnitOfWork, content: Any, actor: Actor) -> Restored:
        """`content` with this tenant's tokens replaced by their values; audited either way."""
        tokens = sorted(
            {m.group(0) for _, text in strings(content) for m in TOKEN_PATTERN.finditer(text)}
        )
        values = await VaultRepository(uow, self.cipher).restore(tokens)
        missing = [t for t in tokens if t not in values]
        outcome = AuditOutcome.DENIED if missing else AuditOutcome.SUCCEEDED
        uow.publish(
            record(
                source=SERVICE,
                tenant_id=uow.tenant_id,
                actor=actor,
                action="guardrail.restore",
                resource_type="vault",
                resource_id=uow.tenant_id,
                outcome=outcome,
                details={"tokens": len(tokens), "missing": len(missing)},
            ),
            topic=self.audit_topic,
        )
        if missing:
            return Restored(None, missing)

        def replace(_path: str, text: str) -> str:
            return TOKEN_PATTERN.sub(lambda m: values[m.group(0)], text)

        return Restored(rebuild(content, replace), [])


def user_actor(subject: str, kind: str) -> Actor:
    """The audit actor of an HTTP caller."""
    return Actor(kind=ActorKind.SERVICE if kind == "service" else ActorKind.USER, id=subject)
