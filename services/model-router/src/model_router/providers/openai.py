"""OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp server and similar)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from ..config import DeploymentConfig
from ..domain import ChatRequest, Completion, ErrorKind, ProviderError, Usage
from .base import Delta, Finish, StreamEvent
from .http import classify_status, http_errors, parse_json, sse_data
from .usage import estimated_usage

__all__ = ["OpenAIProvider", "openai_body"]


def openai_body(
    deployment: DeploymentConfig, request: ChatRequest, *, stream: bool
) -> dict[str, Any]:
    """The wire body of a chat completion request."""
    body: dict[str, Any] = {
        "model": deployment.model,
        "messages": [
            {"role": m.role, "content": m.content, **({"name": m.name} if m.name else {})}
            for m in request.messages
        ],
    }
    for key in ("temperature", "top_p", "max_tokens"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = list(request.stop)
    if request.response_format == "json_object":
        body["response_format"] = {"type": "json_object"}
    elif request.response_format == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": request.json_schema or {}},
        }
    if stream:
        body["stream"] = True
        # Without this, OpenAI streams carry no usage and the call would be billed at $0.
        body["stream_options"] = {"include_usage": True}
    return body


class OpenAIProvider:
    """Adapter over one shared httpx.AsyncClient (pooled connections, timeouts)."""

    name = "openai"

    def __init__(self, client: httpx.AsyncClient, secrets: dict[str, str]) -> None:
        self.client = client
        self.secrets = secrets
        self._urls: dict[str, httpx.URL] = {}

    def _headers(self, deployment: DeploymentConfig) -> dict[str, str]:
        key = self.secrets.get(deployment.api_key_ref or "", "")
        return {"authorization": f"Bearer {key}"} if key else {}

    def _url(self, deployment: DeploymentConfig) -> httpx.URL:
        # Parsed once per deployment: httpx would otherwise parse the string on every call.
        url = self._urls.get(deployment.id)
        if url is None:
            url = httpx.URL(f"{(deployment.endpoint or '').rstrip('/')}/chat/completions")
            self._urls[deployment.id] = url
        return url

    async def complete(self, deployment: DeploymentConfig, request: ChatRequest) -> Completion:
        """One chat completion."""
        try:
            response = await self.client.post(
                self._url(deployment),
                json=openai_body(deployment, request, stream=False),
                headers=self._headers(deployment),
            )
        except httpx.HTTPError as exc:
            raise http_errors(exc) from exc
        if response.status_code >= 300:
            raise classify_status(response, response.text)
        return parse_completion(parse_json(response.content), deployment, request)

    async def stream(
        self, deployment: DeploymentConfig, request: ChatRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """Deltas, then one Finish carrying the final usage chunk's counts."""
        body = openai_body(deployment, request, stream=True)
        try:
            async with self.client.stream(
                "POST", self._url(deployment), json=body, headers=self._headers(deployment)
            ) as response:
                if response.status_code >= 300:
                    raise classify_status(
                        response, (await response.aread()).decode("utf-8", "replace")
                    )
                async for event in _chunks(response, deployment, request):
                    yield event
        except httpx.HTTPError as exc:
            raise http_errors(exc) from exc

    async def aclose(self) -> None:
        """Close the pooled client."""
        await self.client.aclose()


async def _chunks(
    response: httpx.Response, deployment: DeploymentConfig, request: ChatRequest
) -> AsyncGenerator[StreamEvent, None]:
    text: list[str] = []
    finish_reason: str | None = None
    model = deployment.model
    usage: Usage | None = None
    async for _event, data in sse_data(response.aiter_lines()):
        if data.strip() == "[DONE]":
            break
        chunk = parse_json(data.encode())
        if "error" in chunk:
            raise ProviderError(ErrorKind.SERVER, f"stream error: {str(chunk['error'])[:200]}")
        model = str(chunk.get("model") or model)
        if isinstance(chunk.get("usage"), dict):
            usage = _usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if isinstance(piece, str) and piece:
                text.append(piece)
                yield Delta(piece)
            if choice.get("finish_reason"):
                finish_reason = str(choice["finish_reason"])
    if finish_reason is None:
        raise ProviderError(ErrorKind.MALFORMED, "stream ended without a finish reason")
    if finish_reason == "content_filter" and not text:
        raise ProviderError(ErrorKind.CONTENT_POLICY, "the provider refused (content_filter)")
    yield Finish(finish_reason, model, usage or estimated_usage(request, "".join(text)))


def parse_completion(
    payload: dict[str, Any], deployment: DeploymentConfig, request: ChatRequest
) -> Completion:
    """A Completion from a chat.completion object; MALFORMED when its shape is wrong."""
    try:
        choice = payload["choices"][0]
        content = choice["message"].get("content") or ""
        finish_reason = str(choice.get("finish_reason") or "stop")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ProviderError(ErrorKind.MALFORMED, f"no choices[0].message: {exc!r}") from exc
    if not isinstance(content, str):
        raise ProviderError(ErrorKind.MALFORMED, "message content is not text")
    if finish_reason == "content_filter":
        raise ProviderError(ErrorKind.CONTENT_POLICY, "the provider refused (content_filter)")
    raw_usage = payload.get("usage")
    usage = _usage(raw_usage) if isinstance(raw_usage, dict) else None
    return Completion(
        content=content,
        finish_reason=finish_reason,
        model=str(payload.get("model") or deployment.model),
        usage=usage or estimated_usage(request, content),
    )


def _usage(raw: dict[str, Any]) -> Usage | None:
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt, completion)
    return None
