"""OpenAI-compatible HTTP API: /v1/chat/completions (plain and SSE) and /v1/models."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse, StreamingResponse

from agentbus.http import ApiError, CurrentPrincipal, current_principal
from agentbus.storage import UnitOfWorkFactory
from agentbus.telemetry import bind_log_context

from .calls import CallError, CallResult, CallSpec, Prepared
from .domain import CallOutcome
from .openai_wire import ChatCompletionRequest, chunk, completion_body, sse, usage_body
from .providers.base import Delta
from .router import StreamStarted
from .service import HTTP_PREFIX, RouterService, cached_completion

__all__ = ["api_router"]

_STATUS = {
    CallOutcome.BUDGET_EXCEEDED: 402,
    CallOutcome.RATE_LIMITED: 429,
}
_FAILED_STATUS = {
    "model.unknown_alias": 404,
    "model.context_window_exceeded": 400,
    "model.content_policy": 400,
    "model.bad_request": 400,
    "request.duplicate": 409,
}


def api_router(service: RouterService, uows: UnitOfWorkFactory) -> APIRouter:
    """Routes bound to one RouterService; every route authenticates the tenant."""
    router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(current_principal)])

    async def prepare(spec: CallSpec) -> Prepared:
        async with uows(spec.tenant_id) as uow:
            prepared = await service.prepare(spec, uow)
            await uow.commit()
        return prepared

    async def record(result: CallResult) -> None:
        async with uows(result.prepared.spec.tenant_id) as uow:
            await service.record(result, uow)
            await uow.commit()

    @router.get("/models", summary="Aliases this tenant may call")
    async def models(principal: CurrentPrincipal) -> dict[str, Any]:
        names = sorted(service.config.aliases_for(principal.tenant_id))
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "agentbus"} for n in names
            ],
        }

    @router.post(
        "/chat/completions",
        summary="Chat completion through the tenant's alias (stream: true for SSE)",
        response_model=None,
    )
    async def chat_completions(
        body: ChatCompletionRequest,
        principal: CurrentPrincipal,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JSONResponse | StreamingResponse:
        request_id = f"{HTTP_PREFIX}{idempotency_key or uuid.uuid4().hex}"
        spec = CallSpec(principal.tenant_id, request_id, body.model, body.to_domain())
        with bind_log_context(tenant_id=principal.tenant_id, event_id=request_id):
            prepared = await prepare(spec)
            if body.stream:
                return await _stream(service, prepared, body, record)
            result = await service.perform(prepared)
            await record(result)
            return _answer(result)

    return router


def _answer(result: CallResult) -> JSONResponse:
    if result.outcome is CallOutcome.CACHED:
        completion = cached_completion(result.prepared.cached or {})
        return JSONResponse(completion_body(result, completion))
    if result.routed is not None and result.outcome is CallOutcome.OK:
        return JSONResponse(completion_body(result, result.routed.completion))
    raise _error(result)


def _error(result: CallResult) -> ApiError:
    error = result.error
    assert error is not None
    status = _STATUS.get(result.outcome) or _FAILED_STATUS.get(error.code, 502)
    headers = {}
    retry_after = error.details.get("retry_after_s")
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(float(retry_after))))
    return ApiError(status, error.code, error.message, error.details or None, headers)


async def _stream(
    service: RouterService, prepared: Prepared, body: ChatCompletionRequest, record: Any
) -> StreamingResponse:
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    request_id = prepared.spec.request_id
    if prepared.outcome is CallOutcome.CACHED:
        result = CallResult(prepared, CallOutcome.CACHED, 0.0)
        await record(result)
        completion = cached_completion(prepared.cached or {})

        async def replay() -> AsyncIterator[bytes]:
            model = completion.model
            yield sse(chunk(request_id, model, content=completion.content, role=True))
            yield sse(chunk(request_id, model, finish_reason=completion.finish_reason))
            if include_usage:
                yield sse(chunk(request_id, model, usage=usage_body(result), extension=result))
            yield sse("[DONE]")

        return _sse_response(replay())
    if prepared.outcome is not None:
        result = await service.perform(prepared)
        await record(result)
        raise _error(result)
    events = service.stream(prepared)
    first = await anext(events)
    if isinstance(first, CallResult):
        # Every deployment failed before a first token: a plain HTTP error, not a stream.
        await record(first)
        raise _error(first)

    async def relay() -> AsyncIterator[bytes]:
        model = first.deployment.model if isinstance(first, StreamStarted) else body.model
        result: CallResult | None = None
        role_sent = False
        try:
            async for event in _chain(first, events):
                if isinstance(event, CallResult):
                    result = event
                    break
                if isinstance(event, Delta):
                    yield sse(chunk(request_id, model, content=event.text, role=not role_sent))
                    role_sent = True
            assert result is not None
            if result.outcome is CallOutcome.OK and result.routed is not None:
                completion = result.routed.completion
                model = completion.model
                yield sse(chunk(request_id, model, finish_reason=completion.finish_reason))
                if include_usage:
                    yield sse(chunk(request_id, model, usage=usage_body(result), extension=result))
                yield sse("[DONE]")
            else:
                error = result.error
                assert error is not None
                yield sse({"error": {"code": error.code, "message": error.message}})
        finally:
            if result is None:
                # The client hung up mid-stream: stop the provider call, release the hold.
                await events.aclose()
                error = CallError("model.client_disconnected", "the client closed the stream")
                result = CallResult(prepared, CallOutcome.FAILED, 0.0, error=error)
            # Shielded: a cancelled response must still settle its budget hold.
            await asyncio.shield(record(result))

    return _sse_response(relay())


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for event in rest:
        yield event


def _sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
