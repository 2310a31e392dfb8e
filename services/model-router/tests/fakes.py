"""A real HTTP server speaking OpenAI's and Anthropic's wire formats, with scripted failures."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

PROMPT_TOKENS = 10
COMPLETION_TOKENS = 5
ANSWER = ["fake", " answer"]

# Behaviours a call can be scripted with.
OK, RATE_LIMITED, SERVER, TIMEOUT, MALFORMED, CONTEXT, POLICY, CUT, NO_USAGE = (
    "ok",
    "429",
    "500",
    "timeout",
    "malformed",
    "context",
    "policy",
    "cut",
    "no_usage",
)


class FakeProviders:
    """Both wire formats on one server; behaviour is scripted per model name."""

    def __init__(self, *, timeout_s: float = 2.0, retry_after: str = "0") -> None:
        self.calls: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.scripts: dict[str, deque[str]] = defaultdict(deque)
        self.defaults: dict[str, str] = {}
        self.timeout_s = timeout_s
        self.retry_after = retry_after
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.openai, methods=["POST"]),
                Route("/v1/messages", self.anthropic, methods=["POST"]),
            ]
        )

    def script(self, model: str, *behaviours: str, default: str | None = None) -> None:
        """Answer the next calls for `model` with `behaviours`, then with `default`."""
        self.scripts[model].extend(behaviours)
        if default is not None:
            self.defaults[model] = default

    def _next(self, model: str) -> str:
        self.calls[model] += 1
        queue = self.scripts[model]
        return queue.popleft() if queue else self.defaults.get(model, OK)

    async def _common_failure(self, behaviour: str, anthropic: bool) -> Response | None:
        if behaviour == TIMEOUT:
            await asyncio.sleep(self.timeout_s)
        if behaviour == RATE_LIMITED:
            body = _err(anthropic, "rate_limit_error", "rate limit reached", "rate_limit_exceeded")
            return JSONResponse(body, 429, headers={"retry-after": self.retry_after})
        if behaviour == SERVER:
            status = 529 if anthropic else 500
            return JSONResponse(
                _err(anthropic, "overloaded_error", "internal", "server_error"), status
            )
        if behaviour == MALFORMED:
            return Response(b'{"choices": [ not json', 200, media_type="application/json")
        if behaviour == CONTEXT:
            message = (
                "prompt is too long: 210000 tokens > 200000 maximum"
                if anthropic
                else "This model's maximum context length is 8192 tokens."
            )
            return JSONResponse(
                _err(anthropic, "invalid_request_error", message, "context_length_exceeded"), 400
            )
        if behaviour == POLICY:
            return JSONResponse(
                _err(anthropic, "invalid_request_error", "blocked", "content_policy_violation"), 400
            )
        return None

    async def openai(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append(body)
        model = body["model"]
        behaviour = self._next(model)
        failure = await self._common_failure(behaviour, anthropic=False)
        if failure is not None:
            return failure
        if body.get("stream"):
            include_usage = (body.get("stream_options") or {}).get("include_usage")
            return _sse(_openai_chunks(model, cut=behaviour == CUT, usage=bool(include_usage)))
        usage = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        }
        answer = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(ANSWER)},
                    "finish_reason": "stop",
                }
            ],
        }
        if behaviour != NO_USAGE:
            answer["usage"] = usage
        return JSONResponse(answer)

    async def anthropic(self, request: Request) -> Response:
        body = await request.json()
        self.bodies.append(body)
        model = body["model"]
        behaviour = self._next(model)
        if behaviour == POLICY:
            # Anthropic refuses with a normal 200 answer whose stop_reason is "refusal".
            return JSONResponse(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": "refusal",
                    "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 0},
                }
            )
        failure = await self._common_failure(behaviour, anthropic=True)
        if failure is not None:
            return failure
        if body.get("stream"):
            return _sse(_anthropic_events(model, cut=behaviour == CUT))
        return JSONResponse(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "".join(ANSWER)}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS},
            }
        )


def _err(anthropic: bool, kind: str, message: str, code: str) -> dict[str, Any]:
    if anthropic:
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": code}}


def _sse(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


async def _openai_chunks(model: str, *, cut: bool, usage: bool) -> AsyncIterator[bytes]:
    def data(payload: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(payload)}\n\n".encode()

    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}
    for i, piece in enumerate(ANSWER):
        delta = {"content": piece, **({"role": "assistant"} if i == 0 else {})}
        yield data({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        if cut:
            await asyncio.sleep(0.05)
            raise ConnectionResetError("stream cut by the fake provider")
    yield data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        counts = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        }
        yield data({**base, "choices": [], "usage": counts})
    yield b"data: [DONE]\n\n"


async def _anthropic_events(model: str, *, cut: bool) -> AsyncIterator[bytes]:
    def event(name: str, payload: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **payload})}\n\n".encode()

    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1},
    }
    yield event("message_start", {"message": message})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    for piece in ANSWER:
        yield event(
            "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
        )
        if cut:
            await asyncio.sleep(0.05)
            raise ConnectionResetError("stream cut by the fake provider")
    yield event("content_block_stop", {"index": 0})
    yield event(
        "message_delta",
        {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": COMPLETION_TOKENS}},
    )
    yield event("message_stop", {})


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve `app` on an ephemeral 127.0.0.1 port from a thread (usable by other processes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", log_level="error")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("fake provider did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
