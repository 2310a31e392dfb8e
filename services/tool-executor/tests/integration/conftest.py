"""Fixtures: a counting HTTP server on 127.0.0.1, a tool-executor on a real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from tool_executor.app import ToolExecutor, create_app
from tool_executor.catalog import register_all
from tool_executor.domain import Grant, Implementation, SideEffect, ToolDefinition
from tool_executor.repositories import GrantRepository
from tool_executor.settings import CallRetry, Limits, ToolExecutorSettings

from agentbus.bus import IoContext
from agentbus.http.testing import serving
from agentbus.storage import OutboxEntry
from contracts.envelope import Envelope, decode, new_envelope
from contracts.events.audit import AuditRecorded
from contracts.events.tool import ToolCompleted, ToolRequested
from contracts.types import StepRef

CANARY = "canary-" + uuid.uuid4().hex
"""A planted secret: it must reach the server, and never an event, log, span or audit."""


@dataclass
class CountingServer:
    """A real HTTP server that counts what it receives; /pay dedupes by Idempotency-Key."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    effects: dict[str, int] = field(default_factory=dict)
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)
    on_effect: Callable[[str], None] | None = None

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)


def _app(server: CountingServer) -> Starlette:
    async def note(request: Request) -> dict[str, Any]:
        body = (await request.body()).decode()
        entry = {
            "path": request.url.path,
            "method": request.method,
            "headers": dict(request.headers),
            "body": body,
        }
        server.requests.append(entry)
        return entry

    async def echo(request: Request) -> Response:
        entry = await note(request)
        response = JSONResponse({"method": entry["method"], "headers": entry["headers"]})
        if "set_cookie" in request.query_params:  # a session cookie for whoever called
            response.set_cookie("session", request.query_params["set_cookie"])
        return response

    async def slow(request: Request) -> Response:
        await note(request)
        await asyncio.sleep(float(request.query_params.get("s", "5")))
        return JSONResponse({"late": True})

    async def status(request: Request) -> Response:
        await note(request)
        code = int(request.path_params["code"])
        return JSONResponse({"error": {"message": f"status {code}"}}, status_code=code)

    async def redirect(request: Request) -> Response:
        await note(request)
        return RedirectResponse(request.query_params.get("to", "/redirect"), status_code=302)

    async def big(request: Request) -> Response:
        await note(request)
        size = int(request.query_params["n"])

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(size // 1024):
                yield b"x" * 1024

        return StreamingResponse(chunks(), media_type="text/plain")

    async def pay(request: Request) -> Response:
        # Like Stripe: the first request with a key has the effect and its answer is kept;
        # a repeat of the key gets the kept answer and changes nothing.
        await note(request)
        key = request.headers.get("idempotency-key")
        if not key:
            return JSONResponse({"error": "Idempotency-Key required"}, status_code=400)
        if key in server.stored:
            return JSONResponse(server.stored[key], headers={"Idempotent-Replayed": "true"})
        server.effects[key] = server.effects.get(key, 0) + 1
        answer = {"payment": f"pay_{len(server.effects)}", "key": key}
        server.stored[key] = answer
        if server.on_effect is not None:
            server.on_effect(key)
        return JSONResponse(answer)

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST"]),
            Route("/slow", slow, methods=["GET", "POST"]),
            Route("/status/{code:int}", status, methods=["GET", "POST"]),
            Route("/redirect", redirect, methods=["GET", "POST"]),
            Route("/big", big),
            Route("/pay", pay, methods=["POST"]),
        ]
    )


@pytest.fixture
async def counting_server() -> AsyncIterator[CountingServer]:
    server = CountingServer()
    async with serving(_app(server)) as url:
        server.url = url
        yield server


class FakeResolver:
    """Makes test host names resolve where a test wants; anything else via the system."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        if host in self.answers:
            return self.answers[host]
        from tool_executor.egress import SystemResolver

        return await SystemResolver().resolve(host, port)


def http_tool(name: str, **changes: Any) -> ToolDefinition:
    """A write tool on the built-in HTTP implementation that sends a secret header."""
    base = ToolDefinition(
        name=name,
        version="1",
        side_effect=SideEffect.WRITE,
        scopes=["crm:write"],
        timeout_s=5,
        arguments_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": {"type": "string"},
                "method": {"type": "string", "enum": ["GET", "POST"]},
                "json": {"type": "object"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        implementation=Implementation(
            kind="builtin",
            name="http.request",
            config={"headers": {"Authorization": "Bearer {secret:crm_token}"}},
        ),
    )
    return base.model_copy(update=changes)


def make_settings(database_url: str, **overrides: Any) -> ToolExecutorSettings:
    values: dict[str, Any] = {
        "bus": {"database_url": database_url, "consumer_group": f"te-{uuid.uuid4().hex[:8]}"},
        "secrets": {"crm_token": SecretStr(CANARY)},
        "call_retry": CallRetry(max_attempts=3, initial_backoff_s=0.01, jitter_s=0),
        "limits": Limits(max_response_bytes=64 * 1024, max_result_bytes=32 * 1024),
    }
    values.update(overrides)
    return ToolExecutorSettings(**values)


@dataclass
class Harness:
    """A tool-executor whose phases a test drives like the runtime does."""

    service: ToolExecutor
    resolver: FakeResolver
    canary: str = CANARY

    @staticmethod
    def request(tool: str, arguments: dict[str, Any], **fields: Any) -> Envelope[ToolRequested]:
        return tool_request(tool, arguments, **fields)

    @staticmethod
    def http_tool(name: str, **changes: Any) -> ToolDefinition:
        return http_tool(name, **changes)

    async def define(self, *definitions: ToolDefinition, tenant: str = "*") -> None:
        await register_all(self.service.bus.uow, list(definitions), tenant=tenant)

    async def grant(self, tenant: str, grant: Grant) -> None:
        async with self.service.bus.uow(tenant) as uow:
            await GrantRepository(uow).put(grant)
            await uow.commit()

    async def run(self, envelope: Envelope[ToolRequested]) -> tuple[ToolCompleted, AuditRecorded]:
        """prepare (tx) -> perform (no tx) -> record (tx); the reply and audit it wrote."""
        handler = self.service.execute
        uow_factory = self.service.bus.uow
        async with uow_factory(envelope.tenantid) as uow:
            plan = await handler.prepare(envelope, uow)
            await uow.commit()
        ctx = IoContext(envelope, f"g:{envelope.id}", 1, "g")
        result = await handler.perform(plan, ctx)
        async with uow_factory(envelope.tenantid) as uow:
            await handler.record(envelope, result, uow)
            await uow.commit()
            ids = uow.published_ids
        async with uow_factory.sessions() as session:
            rows = [await session.get(OutboxEntry, i) for i in ids]
        events = [
            decode([(k, v.encode()) for k, v in row.headers], row.value).data
            for row in rows
            if row is not None
        ]
        completed = next(e for e in events if isinstance(e, ToolCompleted))
        audit = next(e for e in events if isinstance(e, AuditRecorded))
        return completed, audit


@pytest.fixture
async def harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    resolver = FakeResolver()
    service = create_app(make_settings(database_url), resolver=resolver)
    await service.prepare_registry()
    try:
        yield Harness(service, resolver)
    finally:
        await service.implementations.aclose()
        await service.bus.engine.dispose()


def tool_request(
    tool: str,
    arguments: dict[str, Any],
    *,
    tenant: str = "acme",
    key: str | None = None,
    **fields: Any,
) -> Envelope[ToolRequested]:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    data = ToolRequested(
        step=StepRef(run_id=run_id, step_id="call"),
        tool=tool,
        arguments=arguments,
        idempotency_key=key or f"{run_id}:call:1",
        scopes=fields.pop("scopes", ["crm:write"]),
        **fields,
    )
    return new_envelope(data, source="planner", tenant_id=tenant, run_id=run_id)


@pytest.fixture
def settings_for() -> Callable[..., ToolExecutorSettings]:
    """Settings for a tool-executor on a given database (tests override the rest)."""
    return make_settings


class TopicWatcher:
    """Reads topics from their current end (other tests share them), for bounded waits."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.records: list[Any] = []
        self._consumer: Any = None

    async def __aenter__(self) -> TopicWatcher:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await self._consumer.start()
        partitions = []
        for topic in self.topics:
            ids = self._consumer.partitions_for_topic(topic)
            if ids is None:
                await self._consumer._client.force_metadata_update()
                ids = self._consumer.partitions_for_topic(topic) or set()
            partitions.extend(TopicPartition(topic, p) for p in ids)
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the end offsets now, before anything is produced
            await self._consumer.position(tp)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._consumer.stop()

    async def until(
        self, predicate: Callable[[list[Any]], bool], *, timeout_s: float = 60.0
    ) -> list[Any]:
        """Poll until `predicate(records)` holds; AssertionError after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate(self.records):
            if loop.time() > deadline:
                raise AssertionError(f"condition not met on {self.topics} in {timeout_s}s")
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                self.records.extend(records)
        return self.records


@pytest.fixture
def watch(kafka_bootstrap: str) -> Callable[[list[str]], TopicWatcher]:
    """`async with watch([topics]) as watcher:` sees only records produced afterwards."""
    return lambda topics: TopicWatcher(kafka_bootstrap, topics)
