"""Draft a definition from a goal: ask the model-router, validate, repair, store as a draft."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import yaml

from agentbus.storage import UnitOfWork
from contracts.envelope import new_envelope
from contracts.events.model import ModelParameters, ModelRequested, ModelResponded, ResponseFormat
from contracts.types import Actor, ActorKind, ChatMessage, Role, StepRef

from .definition import WorkflowDefinition
from .lifecycle import DefinitionService
from .runner import SOURCE, Topics
from .store import DraftJobRepository
from .tables import DraftJobRow, utcnow
from .validation import DefinitionError, parse_definition
from .versions import LifecycleError

__all__ = ["DRAFT_RUN_PREFIX", "Drafter", "is_draft_reply"]

DRAFT_RUN_PREFIX = "draft-"
log = logging.getLogger("planner.drafting")

_SYSTEM = """You write agentbus workflow definitions. Answer with one JSON object only.
A definition has: name, version (semantic), description, input_schema (JSON Schema),
output (map of name -> JMESPath over {input, steps}), steps (list). Each step has id
(lower case), type (llm | tool | guardrail | approval | condition | map | workflow),
depends_on (ids), inputs (map of name -> JMESPath over {input, steps: {id: {output}}}).
llm: model, prompt with {{ name }} placeholders from inputs. tool: tool, scopes (those
it needs). guardrail: direction, inputs.content. approval: subject. condition: if, then,
else (step ids that depend on it). map: over (a list expression), step (an item step;
item and index in scope).
Optional: retry {max_attempts, backoff_s}, timeout_s, on_failure (fail|continue|compensate)."""


def is_draft_reply(reply: ModelResponded) -> bool:
    """True when a model answer belongs to a drafting job, not to a run."""
    return reply.step.run_id.startswith(DRAFT_RUN_PREFIX)


@dataclass
class Drafter:
    """Drafting jobs: one model request per attempt, at most `max_repairs` repairs."""

    topics: Topics
    definitions: DefinitionService
    model_alias: str
    max_repairs: int

    async def start(
        self, uow: UnitOfWork, *, goal: str, name: str, version: str, author: Actor
    ) -> DraftJobRow:
        """Create a job and send its first model request."""
        job = DraftJobRow(
            job_id=str(uuid.uuid4()),
            tenant_id=uow.tenant_id,
            goal=goal,
            name=name,
            version=version,
            author=author.id,
            status="pending",
        )
        DraftJobRepository(uow).add(job)
        self._ask(uow, job, [ChatMessage(role=Role.USER, content=self._goal(job))])
        return job

    async def on_answer(self, uow: UnitOfWork, reply: ModelResponded) -> None:
        """Validate the model's answer: store the draft, ask for a repair, or give up."""
        job = await DraftJobRepository(uow).get(reply.step.run_id.removeprefix(DRAFT_RUN_PREFIX))
        if job is None or job.status != "pending" or reply.step.attempt != job.attempt:
            return  # unknown, finished, or a late answer to an earlier attempt
        if reply.error is not None:
            self._give_up(job, [f"model error: {reply.error.message}"])
            return
        answer = reply.content or ""
        errors = self._errors(job, answer)
        if not errors:
            author = Actor(kind=ActorKind.USER, id=job.author)
            try:
                await self.definitions.create_draft(
                    uow, self._as_yaml(job, answer), author, origin="generated"
                )
            except LifecycleError as exc:
                self._give_up(job, [str(exc)])
                return
            job.status = "drafted"
            job.errors = []
            job.updated_at = utcnow()
            return
        if job.attempt > self.max_repairs:
            self._give_up(job, errors)
            return
        job.attempt += 1
        job.errors = errors
        job.updated_at = utcnow()
        repair = "Fix these problems and answer with the whole corrected JSON:\n" + "\n".join(
            f"- {e}" for e in errors
        )
        self._ask(
            uow,
            job,
            [
                ChatMessage(role=Role.USER, content=self._goal(job)),
                ChatMessage(role=Role.ASSISTANT, content=answer[:20_000]),
                ChatMessage(role=Role.USER, content=repair),
            ],
        )

    def _errors(self, job: DraftJobRow, answer: str) -> list[str]:
        try:
            parse_definition(self._as_yaml(job, answer))
        except DefinitionError as exc:
            return [str(i) for i in exc.issues]
        return []

    @staticmethod
    def _as_yaml(job: DraftJobRow, answer: str) -> str:
        try:
            data: Any = json.loads(answer)
        except ValueError:
            return answer  # not JSON: let the YAML parser say what is wrong
        if isinstance(data, dict):
            # The caller names the draft; the model only proposes its content.
            data = {**data, "name": job.name, "version": job.version}
        return yaml.safe_dump(data, sort_keys=False)

    @staticmethod
    def _goal(job: DraftJobRow) -> str:
        return f"Goal: {job.goal}\nName it {job.name!r}, version {job.version!r}."

    def _give_up(self, job: DraftJobRow, errors: list[str]) -> None:
        job.status = "failed"
        job.errors = errors
        job.updated_at = utcnow()
        log.warning("drafting gave up", extra={"fields": {"job": job.job_id}})

    def _ask(self, uow: UnitOfWork, job: DraftJobRow, messages: list[ChatMessage]) -> None:
        schema = WorkflowDefinition.model_json_schema(by_alias=True)
        request = ModelRequested(
            step=StepRef(
                run_id=f"{DRAFT_RUN_PREFIX}{job.job_id}", step_id="draft", attempt=job.attempt
            ),
            alias=self.model_alias,
            messages=[ChatMessage(role=Role.SYSTEM, content=_SYSTEM), *messages],
            parameters=ModelParameters(
                response_format=ResponseFormat.JSON_SCHEMA, json_schema=schema, temperature=0
            ),
        )
        uow.publish(
            new_envelope(request, source=SOURCE, tenant_id=uow.tenant_id),
            topic=self.topics("model.requests"),
        )
