"""A deterministic provider with no key and no network: rule answers, latency, failures."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncGenerator
from typing import Any

from ..config import DeploymentConfig
from ..domain import (
    ChatRequest,
    Completion,
    ErrorKind,
    ProviderError,
    Usage,
    estimate_prompt_tokens,
    estimate_text_tokens,
)
from .base import Delta, Finish, StreamEvent

__all__ = ["LocalProvider", "instance_of", "local_answer"]


def instance_of(schema: dict[str, Any], *, seed: str = "") -> Any:
    """A small value valid against a JSON Schema (objects, arrays, scalars, enums, consts)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if schema.get(combinator):
            return instance_of(schema[combinator][0], seed=seed)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: instance_of(sub, seed=name) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [instance_of(schema.get("items") or {"type": "string"}, seed=seed)] * count
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = seed or "value"
    return text.ljust(int(schema.get("minLength", 0)), "x")


def local_answer(deployment: DeploymentConfig, request: ChatRequest) -> str:
    """The deterministic answer to a request: same request, same answer."""
    last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    digest = hashlib.sha256(json.dumps(request.canonical(), sort_keys=True).encode()).hexdigest()
    if request.response_format == "json_schema":
        return json.dumps(instance_of(request.json_schema or {}), separators=(",", ":"))
    if request.response_format == "json_object":
        return json.dumps({"answer": last[:200], "model": deployment.model, "digest": digest[:12]})
    if deployment.local.answer is not None:
        return deployment.local.answer.replace("{last}", last[:200])
    return f"[{deployment.model}] {last[:200]}"


class LocalProvider:
    """In-process answers; failure injection counts calls per deployment in this process."""

    name = "local"

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def _behave(self, deployment: DeploymentConfig) -> None:
        behaviour = deployment.local
        n = self.calls[deployment.id] = self.calls.get(deployment.id, 0) + 1
        if behaviour.latency_ms:
            await asyncio.sleep(behaviour.latency_ms / 1000)
        failing = n <= behaviour.fail_first or (
            behaviour.fail_every > 0 and n % behaviour.fail_every == 0
        )
        if failing:
            kind = ErrorKind(behaviour.fail_with)
            raise ProviderError(kind, f"injected {kind.value} failure (call {n})", status=None)

    def _completion(self, deployment: DeploymentConfig, request: ChatRequest) -> Completion:
        content = local_answer(deployment, request)
        prompt = estimate_prompt_tokens(request)
        if prompt > deployment.context_window:
            raise ProviderError(ErrorKind.CONTEXT_WINDOW, "prompt exceeds the context window")
        completion = estimate_text_tokens(content)
        if request.max_tokens is not None:
            completion = min(completion, request.max_tokens)
        # The local provider is its own tokenizer: its counts are exact, not estimates.
        return Completion(content, "stop", deployment.model, Usage(prompt, completion))

    async def complete(self, deployment: DeploymentConfig, request: ChatRequest) -> Completion:
        """Answer after the configured latency, or fail as configured."""
        await self._behave(deployment)
        return self._completion(deployment, request)

    async def stream(
        self, deployment: DeploymentConfig, request: ChatRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """The same answer word by word."""
        await self._behave(deployment)
        completion = self._completion(deployment, request)
        words = completion.content.split(" ")
        for i, word in enumerate(words):
            yield Delta(word if i == 0 else " " + word)
        yield Finish(completion.finish_reason, completion.model, completion.usage)

    async def aclose(self) -> None:
        """Nothing to release."""
