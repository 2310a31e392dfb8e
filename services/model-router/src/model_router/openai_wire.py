"""OpenAI chat-completions wire format: the request model and the response/chunk bodies."""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .calls import CallResult
from .domain import ChatRequest, Completion, Message

__all__ = [
    "ChatCompletionRequest",
    "chunk",
    "completion_body",
    "sse",
    "usage_body",
]


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class _WireMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class _JsonSchema(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = "answer"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")


class _ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: _JsonSchema | None = None


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's request the router honours; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=128, description="a model alias of the tenant")
    messages: list[_WireMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    response_format: _ResponseFormat | None = None
    n: int = Field(default=1, ge=1, le=1, description="only one choice is supported")

    @model_validator(mode="after")
    def _schema(self) -> ChatCompletionRequest:
        rf = self.response_format
        if rf is not None and rf.type == "json_schema" and rf.json_schema is None:
            raise ValueError("response_format json_schema needs json_schema")
        return self

    def to_domain(self) -> ChatRequest:
        """The provider-neutral request."""
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        rf = self.response_format
        return ChatRequest(
            messages=tuple(
                Message("system" if m.role == "developer" else m.role, m.text(), m.name)
                for m in self.messages
            ),
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            stop=tuple(stop),
            response_format=rf.type if rf else "text",
            json_schema=rf.json_schema.schema_ if rf and rf.json_schema else None,
        )


def usage_body(result: CallResult) -> dict[str, Any]:
    """OpenAI's usage object."""
    usage = result.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _extension(result: CallResult) -> dict[str, Any]:
    routed = result.routed
    cached = result.prepared.cached or {}
    return {
        "alias": result.prepared.plan.alias if result.prepared.plan else result.prepared.spec.alias,
        "provider": routed.deployment.provider if routed else cached.get("provider"),
        "deployment": routed.deployment.id if routed else cached.get("deployment"),
        "cost_usd": str(result.cost_usd),
        "cached": result.prepared.cached is not None,
        "usage_estimated": result.usage.estimated,
    }


def completion_body(result: CallResult, completion: Completion) -> dict[str, Any]:
    """A chat.completion object, with the router's facts under `agentbus`."""
    return {
        "id": f"chatcmpl-{result.prepared.spec.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.content},
                "finish_reason": completion.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_body(result),
        "agentbus": _extension(result),
    }


def chunk(
    request_id: str,
    model: str,
    *,
    content: str | None = None,
    finish_reason: str | None = None,
    role: bool = False,
    usage: dict[str, Any] | None = None,
    extension: CallResult | None = None,
) -> dict[str, Any]:
    """One chat.completion.chunk; a usage chunk has no choices, as OpenAI sends it."""
    body: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
    }
    if usage is None:
        delta: dict[str, Any] = {"role": "assistant"} if role else {}
        if content is not None:
            delta["content"] = content
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    else:
        body["usage"] = usage
    if extension is not None:
        body["agentbus"] = _extension(extension)
    return body


def sse(payload: dict[str, Any] | str) -> bytes:
    """One server-sent event carrying JSON (or the literal [DONE])."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()
