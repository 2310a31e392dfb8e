"""Workflow definitions: the validated model of a YAML DAG of typed steps."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

import semver
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.events.guardrail import Direction
from contracts.events.tool import Scope
from contracts.types import Name

__all__ = [
    "ApprovalStep",
    "ConditionStep",
    "GuardrailStep",
    "ItemStep",
    "LlmStep",
    "MapStep",
    "OnFailure",
    "RetrySpec",
    "Step",
    "StepBase",
    "StepId",
    "ToolStep",
    "WorkflowDefinition",
    "WorkflowStep",
]

StepId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
"""A step id: lower case, digits, `_` and `-` (`/` is kept for map items: `<step>/<index>`)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class OnFailure(StrEnum):
    """What a step's final failure does to its run."""

    FAIL = "fail"
    CONTINUE = "continue"
    COMPENSATE = "compensate"


class RetrySpec(_Model):
    """Attempts and exponential backoff between them."""

    max_attempts: int = Field(default=1, ge=1, le=20)
    backoff_s: float = Field(default=1.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=300.0, ge=0)

    def delay_s(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt `failed_attempt` before the next one."""
        return float(
            min(self.backoff_s * self.multiplier ** (failed_attempt - 1), self.max_backoff_s)
        )


class StepBase(_Model):
    """Fields every step type has."""

    id: StepId
    description: str | None = None
    depends_on: list[StepId] = Field(default_factory=list)
    inputs: dict[str, str] = Field(default_factory=dict)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    timeout_s: float | None = Field(default=None, gt=0)
    on_failure: OnFailure = OnFailure.FAIL
    compensate: StepId | None = None
    output_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _compensation(self) -> StepBase:
        if (self.on_failure is OnFailure.COMPENSATE) != (self.compensate is not None):
            raise ValueError("compensate names a step exactly when on_failure is compensate")
        return self


class LlmStep(StepBase):
    """A chat completion through the model-router; `{{ name }}` placeholders fill from inputs."""

    type: Literal["llm"]
    model: Name = "default"
    system: str | None = None
    prompt: str = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    json_output: bool = False


class ToolStep(StepBase):
    """A tool invocation through the tool-executor; the inputs are its arguments."""

    type: Literal["tool"]
    tool: Name
    version: str | None = None
    # Least privilege, reviewed with the definition: the tool-executor runs the tool only
    # if these include every scope the tool needs (and the tenant's grant holds them).
    scopes: list[Scope] = Field(default_factory=list)


class GuardrailStep(StepBase):
    """A policy check of `inputs.content` before or after a call."""

    type: Literal["guardrail"]
    direction: Direction = Direction.INPUT
    policy: str | None = None


class ApprovalStep(StepBase):
    """A human decision; the run waits for the approval service's outcome."""

    type: Literal["approval"]
    subject: str = Field(min_length=1, max_length=500)
    roles: list[Name] = Field(default_factory=list)
    escalation_roles: list[Name] = Field(default_factory=list)
    required_approvals: int = Field(default=1, ge=1)
    deadline_s: float = Field(default=86_400.0, gt=0)


class ConditionStep(StepBase):
    """A branch: `then` steps run when `if` is truthy, `else` steps otherwise."""

    type: Literal["condition"]
    if_: str = Field(alias="if", min_length=1)
    then: list[StepId] = Field(default_factory=list)
    else_: list[StepId] = Field(default_factory=list, alias="else")


ItemStep = Annotated[LlmStep | ToolStep | GuardrailStep, Field(discriminator="type")]
"""What a map step runs per item; `item` and `index` are in scope of its expressions."""


class MapStep(StepBase):
    """Fan-out of `step` over the list `over`, fan-in of the outputs in order."""

    type: Literal["map"]
    over: str = Field(min_length=1)
    step: ItemStep
    max_concurrency: int = Field(default=8, ge=1, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _item_id(cls, data: Any) -> Any:
        # The per-item step is named after its map step unless it names itself.
        if isinstance(data, dict) and isinstance(data.get("step"), dict):
            data = {**data, "step": {"id": data.get("id", "item"), **data["step"]}}
        return data


class WorkflowStep(StepBase):
    """A published sub-workflow run as one step; its output is the child run's output."""

    type: Literal["workflow"]
    workflow: Name
    version: str | None = None


Step = Annotated[
    LlmStep | ToolStep | GuardrailStep | ApprovalStep | ConditionStep | MapStep | WorkflowStep,
    Field(discriminator="type"),
]


class WorkflowDefinition(_Model):
    """A whole workflow: name, semantic version, input schema, steps and output mapping."""

    name: Name
    version: str
    description: str = ""
    input_schema: dict[str, Any] | None = None
    output: dict[str, str] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not semver.Version.is_valid(value):
            raise ValueError(f"{value!r} is not a semantic version such as 1.2.0")
        return value

    def step(self, step_id: str) -> Step:
        """The step with this id; KeyError if there is none."""
        return self._steps_by_id[step_id]

    # Definitions are frozen and parsed once per content hash, so these are computed once.
    @cached_property
    def _steps_by_id(self) -> dict[str, Step]:
        return {step.id: step for step in self.steps}

    @cached_property
    def compensation_ids(self) -> frozenset[str]:
        """Steps that run only as another step's compensation."""
        return frozenset(s.compensate for s in self.steps if s.compensate)
