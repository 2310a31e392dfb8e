"""Definition versions: create a draft, review, publish behind a quality gate, deprecate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from agentbus.storage import UnitOfWork
from contracts.audit import record
from contracts.envelope import new_envelope
from contracts.events.workflow import (
    WorkflowApproved,
    WorkflowDeprecated,
    WorkflowDrafted,
    WorkflowEvent,
    WorkflowPublished,
    WorkflowSubmitted,
)
from contracts.types import Actor

from .definition import WorkflowDefinition
from .runner import SOURCE, Topics
from .store import DefinitionRepository
from .tables import DefinitionRow, utcnow
from .validation import parse_definition
from .versions import Action, LifecycleError, Status, content_hash, next_status

__all__ = ["AlwaysPass", "DefinitionService", "GateResult", "QualityGate"]


@dataclass(frozen=True)
class GateResult:
    """A quality gate's verdict on a definition about to be published."""

    passed: bool
    details: dict[str, Any] = field(default_factory=dict)


class QualityGate(Protocol):
    """Decides whether an approved definition may be published (evaluation plugs in here)."""

    async def check(self, tenant_id: str, definition: WorkflowDefinition) -> GateResult: ...


class AlwaysPass:
    """The default gate until the evaluation service provides one."""

    async def check(self, tenant_id: str, definition: WorkflowDefinition) -> GateResult:
        """Pass, saying that no gate ran."""
        return GateResult(True, {"gate": "none"})


_EVENTS: dict[Action, type[WorkflowEvent]] = {
    Action.SUBMIT: WorkflowSubmitted,
    Action.PUBLISH: WorkflowPublished,
    Action.DEPRECATE: WorkflowDeprecated,
}


@dataclass
class DefinitionService:
    """Lifecycle use cases, each inside the caller's unit of work."""

    topics: Topics
    gate: QualityGate = field(default_factory=AlwaysPass)

    async def create_draft(
        self, uow: UnitOfWork, source: str, author: Actor, *, origin: str = "manual"
    ) -> DefinitionRow:
        """Validate and store a new draft; LifecycleError if the version exists."""
        definition = parse_definition(source)
        repo = DefinitionRepository(uow)
        if await repo.get(uow.tenant_id, definition.name, definition.version) is not None:
            raise LifecycleError(
                "workflow.version_exists",
                f"{definition.name}@{definition.version} exists; bump the version",
            )
        row = DefinitionRow(
            tenant_id=uow.tenant_id,
            name=definition.name,
            version=definition.version,
            content_hash=content_hash(definition),
            status=Status.DRAFT.value,
            author=author.id,
            origin=origin,
            source=source,
            definition=definition.model_dump(mode="json", by_alias=True),
        )
        repo.add(row)
        self._announce(uow, row, WorkflowDrafted, author, "workflow.draft", {"origin": origin})
        return row

    async def transition(
        self, uow: UnitOfWork, name: str, version: str, action: Action, actor: Actor
    ) -> DefinitionRow:
        """Move a version along its lifecycle; LookupError / LifecycleError otherwise."""
        repo = DefinitionRepository(uow)
        row = await repo.get(uow.tenant_id, name, version)
        if row is None:
            raise LookupError(f"{name}@{version}")
        try:
            target = next_status(Status(row.status), action, author=row.author, actor=actor.id)
        except LifecycleError as exc:
            self._audit(uow, row, f"workflow.{action.value}", actor, "denied", {"reason": str(exc)})
            raise
        extra: dict[str, Any] = {}
        if action is Action.PUBLISH:
            definition = WorkflowDefinition.model_validate(row.definition)
            verdict = await self.gate.check(uow.tenant_id, definition)
            if not verdict.passed:
                self._audit(uow, row, "workflow.publish", actor, "denied", verdict.details)
                raise LifecycleError(
                    "workflow.quality_gate", f"the quality gate refused: {verdict.details}"
                )
            extra["quality_gate"] = verdict.details
        row.status = target.value
        row.updated_at = utcnow()
        if action in (Action.APPROVE, Action.REJECT):
            row.reviewer = actor.id
        repo.add(row)
        if action is Action.APPROVE:
            self._announce(
                uow, row, WorkflowApproved, actor, "workflow.approve", {}, reviewer=actor
            )
        elif action is Action.REJECT:
            self._audit(uow, row, "workflow.reject", actor, "succeeded", {})
        else:
            self._announce(
                uow, row, _EVENTS[action], actor, f"workflow.{action.value}", {}, **extra
            )
        return row

    def _announce(
        self,
        uow: UnitOfWork,
        row: DefinitionRow,
        event: type[WorkflowEvent],
        actor: Actor,
        action: str,
        details: dict[str, Any],
        **fields: Any,
    ) -> None:
        data = event(
            name=row.name,
            version=row.version,
            content_hash=row.content_hash,
            actor=actor,
            occurred_at=datetime.now(UTC),
            **fields,
        )
        uow.publish(
            new_envelope(data, source=SOURCE, tenant_id=uow.tenant_id),
            topic=self.topics("workflows.events"),
        )
        self._audit(uow, row, action, actor, "succeeded", details)

    def _audit(
        self,
        uow: UnitOfWork,
        row: DefinitionRow,
        action: str,
        actor: Actor,
        outcome: str,
        details: dict[str, Any],
    ) -> None:
        uow.publish(
            record(
                source=SOURCE,
                tenant_id=uow.tenant_id,
                actor=actor,
                action=action,
                resource_type="workflow",
                resource_id=f"{row.name}@{row.version}",
                outcome=outcome,
                details={"content_hash": row.content_hash, **details},
            ),
            topic=self.topics("audit.log"),
        )
