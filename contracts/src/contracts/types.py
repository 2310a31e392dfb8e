"""Value types shared by several event contracts."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

__all__ = [
    "TENANT_ID_PATTERN",
    "Actor",
    "ActorKind",
    "ChatMessage",
    "ContentHash",
    "ErrorCode",
    "ErrorInfo",
    "Identifier",
    "Millis",
    "Name",
    "Role",
    "StepKind",
    "StepRef",
    "TenantId",
    "Timings",
    "TokenUsage",
    "Usd",
    "ValueType",
    "Version",
    "WorkflowRef",
]

Identifier = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^\S+$")]
"""An opaque id (uuid, ulid, upstream reference): no whitespace."""

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")]
"""A human-chosen name: workflow, tool, model alias, policy, role."""

TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
TenantId = Annotated[str, Field(min_length=1, max_length=128, pattern=TENANT_ID_PATTERN)]
"""A tenant: letters, digits, `.`, `_` and `-`, at most 128, no separator or space. It
names rows, topics' records, folders and files of every service, so nothing else passes."""

Version = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$")
]
"""A version label such as `3` or `1.2.0`."""

ContentHash = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
"""`sha256:` and the hex digest of a canonical definition."""

ErrorCode = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_.]*$")]
"""A stable machine-readable code such as `tool.timeout`."""

Millis = Annotated[int, Field(ge=0)]
"""A duration in whole milliseconds."""

Usd = Annotated[
    Decimal,
    Field(ge=0),
    # On the wire money is a decimal string, never a float, so no precision is lost.
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}),
]
"""An amount in US dollars; serialized as a decimal string such as `"0.000125"`."""


class ValueType(BaseModel):
    """Base of the value types: frozen, additive fields ignored by older readers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class StepKind(StrEnum):
    """Which service executes a workflow step."""

    GUARDRAIL = "guardrail"
    MODEL = "model"
    TOOL = "tool"
    APPROVAL = "approval"


class Role(StrEnum):
    """Author of a chat message (OpenAI-style roles)."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ActorKind(StrEnum):
    """What kind of principal acted."""

    USER = "user"
    SERVICE = "service"
    SYSTEM = "system"


class Actor(ValueType):
    """A principal: a human user, a service, or an upstream system."""

    kind: ActorKind = Field(description="user, service or system")
    id: Identifier = Field(description="User id, service name or upstream system id")


class StepRef(ValueType):
    """One attempt of one step of one run; replies echo it for correlation."""

    run_id: Identifier = Field(description="The run the step belongs to")
    step_id: Name = Field(description="The step's id within its workflow definition")
    attempt: int = Field(default=1, ge=1, description="1 for the first try, +1 per retry")


class WorkflowRef(ValueType):
    """A published workflow definition pinned by name, version and content hash."""

    name: Name = Field(description="Workflow name")
    version: Version = Field(description="Published version that executes")
    content_hash: ContentHash = Field(description="sha256 of the canonical definition")


class ChatMessage(ValueType):
    """One chat message, OpenAI-style."""

    role: Role = Field(description="system, user, assistant or tool")
    content: str = Field(description="Message text")
    name: Name | None = Field(default=None, description="Optional author name")
    tool_call_id: Identifier | None = Field(
        default=None, description="For role=tool: the tool call this message answers"
    )


class TokenUsage(ValueType):
    """Tokens counted by a model provider for one call."""

    prompt_tokens: int = Field(ge=0, description="Input tokens")
    completion_tokens: int = Field(ge=0, description="Output tokens")

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.prompt_tokens + self.completion_tokens


class ErrorInfo(ValueType):
    """Why something failed, safe to log (no secrets, no raw PII)."""

    code: ErrorCode = Field(description="Stable machine-readable code, e.g. tool.timeout")
    message: str = Field(min_length=1, description="Human-readable explanation")
    retryable: bool = Field(default=False, description="True for transient errors")
    details: dict[str, Any] = Field(default_factory=dict, description="Extra masked context")


class Timings(ValueType):
    """When something started and finished."""

    started_at: AwareDatetime = Field(description="Start time (timezone-aware)")
    finished_at: AwareDatetime = Field(description="End time (timezone-aware)")
    duration_ms: Millis = Field(description="Elapsed wall-clock milliseconds")

    @model_validator(mode="after")
    def _ordered(self) -> Timings:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        return self
