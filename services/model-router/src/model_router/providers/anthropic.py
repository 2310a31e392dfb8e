"""Anthropic Messages API, plain and streamed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from ..config import DeploymentConfig
from ..domain import ChatRequest, Completion, ErrorKind, ProviderError, Usage
from .base import Delta, Finish, StreamEvent
from .http import classify_status, http_errors, parse_json, sse_data
from .usage import estimated_usage

__all__ = ["ANTHROPIC_VERSION", "AnthropicProvider", "anthropic_body"]

ANTHROPIC_VERSION = "2023-06-01"
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def anthropic_body(
    deployment: DeploymentConfig, request: ChatRequest, *, stream: bool, default_max_tokens: int
) -> dict[str, Any]:
    """The wire body of a Messages request: system prompts apart, max_tokens required."""
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    messages = [
        {"role": "assistant" if m.role == "assistant" else "user", "content": m.content}
        for m in request.messages
        if m.role != "system"
    ]
    if request.response_format != "text":
        # Anthropic has no JSON mode: ask for it in the system prompt.
        system = (system + "\n\nAnswer with one valid JSON object only.").strip()
    body: dict[str, Any] = {
        "model": deployment.model,
        "messages": messages,
        "max_tokens": request.max_tokens or default_max_tokens,
    }
    if system:
        body["system"] = system
    for key in ("temperature", "top_p"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if stream:
        body["stream"] = True
    return body


class AnthropicProvider:
    """Adapter over one shared httpx.AsyncClient."""

    name = "anthropic"

    def __init__(
        self, client: httpx.AsyncClient, secrets: dict[str, str], *, default_max_tokens: int
    ) -> None:
        self.client = client
        self.secrets = secrets
        self._urls: dict[str, httpx.URL] = {}
        self.default_max_tokens = default_max_tokens

    def _headers(self, deployment: DeploymentConfig) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        key = self.secrets.get(deployment.api_key_ref or "", "")
        if key:
            headers["x-api-key"] = key
        return headers

    def _url(self, deployment: DeploymentConfig) -> httpx.URL:
        # Parsed once per deployment: httpx would otherwise parse the string on every call.
        url = self._urls.get(deployment.id)
        if url is None:
            url = httpx.URL(f"{(deployment.endpoint or '').rstrip('/')}/v1/messages")
            self._urls[deployment.id] = url
        return url

    def _body(
        self, deployment: DeploymentConfig, request: ChatRequest, stream: bool
    ) -> dict[str, Any]:
        return anthropic_body(
            deployment, request, stream=stream, default_max_tokens=self.default_max_tokens
        )

    async def complete(self, deployment: DeploymentConfig, request: ChatRequest) -> Completion:
        """One Messages call."""
        try:
            response = await self.client.post(
                self._url(deployment),
                json=self._body(deployment, request, False),
                headers=self._headers(deployment),
            )
        except httpx.HTTPError as exc:
            raise http_errors(exc) from exc
        if response.status_code >= 300:
            raise _status_error(response, response.text)
        return parse_message(parse_json(response.content), deployment, request)

    async def stream(
        self, deployment: DeploymentConfig, request: ChatRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """Deltas from content_block_delta, usage from message_start and message_delta."""
        try:
            async with self.client.stream(
                "POST",
                self._url(deployment),
                json=self._body(deployment, request, True),
                headers=self._headers(deployment),
            ) as response:
                if response.status_code >= 300:
                    body = (await response.aread()).decode("utf-8", "replace")
                    raise _status_error(response, body)
                async for event in _events(response, deployment, request):
                    yield event
        except httpx.HTTPError as exc:
            raise http_errors(exc) from exc

    async def aclose(self) -> None:
        """Close the pooled client."""
        await self.client.aclose()


def _status_error(response: httpx.Response, body: str) -> ProviderError:
    # 529 is Anthropic's "overloaded": transient like a 503.
    return classify_status(response, body)


async def _events(
    response: httpx.Response, deployment: DeploymentConfig, request: ChatRequest
) -> AsyncGenerator[StreamEvent, None]:
    model = deployment.model
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    stop_reason: str | None = None
    text: list[str] = []
    async for name, data in sse_data(response.aiter_lines()):
        event = parse_json(data.encode())
        kind = event.get("type", name)
        if kind == "message_start":
            message = event.get("message") or {}
            model = str(message.get("model") or model)
            prompt_tokens = _int((message.get("usage") or {}).get("input_tokens"))
        elif kind == "content_block_delta":
            piece = (event.get("delta") or {}).get("text")
            if isinstance(piece, str) and piece:
                text.append(piece)
                yield Delta(piece)
        elif kind == "message_delta":
            stop_reason = (event.get("delta") or {}).get("stop_reason") or stop_reason
            completion_tokens = _int((event.get("usage") or {}).get("output_tokens"))
        elif kind == "error":
            error = event.get("error") or {}
            raise ProviderError(_stream_error_kind(error), f"stream error: {error.get('message')}")
        elif kind == "message_stop":
            break
    if stop_reason is None:
        raise ProviderError(ErrorKind.MALFORMED, "stream ended without a stop reason")
    if stop_reason == "refusal" and not text:
        raise ProviderError(ErrorKind.CONTENT_POLICY, "the provider refused")
    if prompt_tokens is None or completion_tokens is None:
        usage = estimated_usage(request, "".join(text))
    else:
        usage = Usage(prompt_tokens, completion_tokens)
    yield Finish(_FINISH.get(stop_reason, "stop"), model, usage)


def _stream_error_kind(error: dict[str, Any]) -> ErrorKind:
    kind = str(error.get("type", ""))
    if kind in ("overloaded_error", "api_error"):
        return ErrorKind.SERVER
    if kind == "rate_limit_error":
        return ErrorKind.RATE_LIMITED
    return ErrorKind.BAD_REQUEST


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def parse_message(
    payload: dict[str, Any], deployment: DeploymentConfig, request: ChatRequest
) -> Completion:
    """A Completion from a Messages response; MALFORMED when its shape is wrong."""
    blocks = payload.get("content")
    if not isinstance(blocks, list):
        raise ProviderError(ErrorKind.MALFORMED, "no content blocks in the response")
    content = "".join(
        str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
    )
    stop_reason = str(payload.get("stop_reason") or "end_turn")
    if stop_reason == "refusal" and not content:
        raise ProviderError(ErrorKind.CONTENT_POLICY, "the provider refused")
    raw = payload.get("usage")
    usage = None
    if isinstance(raw, dict):
        prompt, completion = _int(raw.get("input_tokens")), _int(raw.get("output_tokens"))
        if prompt is not None and completion is not None:
            usage = Usage(prompt, completion)
    return Completion(
        content=content,
        finish_reason=_FINISH.get(stop_reason, "stop"),
        model=str(payload.get("model") or deployment.model),
        usage=usage or estimated_usage(request, content),
    )
