"""The deterministic local provider: stable answers, valid JSON, injected failures."""

from __future__ import annotations

import json

import pytest
from model_router.config import DeploymentConfig, LocalBehaviour
from model_router.domain import ErrorKind, ProviderError
from model_router.providers.base import Delta, Finish
from model_router.providers.local import LocalProvider, instance_of

from ..conftest import chat

DEPLOYMENT = DeploymentConfig(id="l", provider="local", model="local-x")

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "score": {"type": "number", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
        "kind": {"enum": ["a", "b"]},
        "ok": {"type": "boolean"},
    },
}


async def test_same_request_same_answer():
    provider = LocalProvider()
    first = await provider.complete(DEPLOYMENT, chat("hello"))
    second = await provider.complete(DEPLOYMENT, chat("hello"))
    assert first.content == second.content == "[local-x] hello"
    assert not first.usage.estimated


async def test_json_modes_answer_valid_json():
    provider = LocalProvider()
    as_object = await provider.complete(DEPLOYMENT, chat("q", response_format="json_object"))
    assert json.loads(as_object.content)["answer"] == "q"
    shaped = await provider.complete(
        DEPLOYMENT, chat("q", response_format="json_schema", json_schema=SCHEMA)
    )
    value = json.loads(shaped.content)
    assert value == instance_of(SCHEMA)
    assert set(value) == set(SCHEMA["properties"])
    assert len(value["name"]) >= 3
    assert value["score"] >= 1
    assert value["kind"] in ("a", "b")


async def test_failure_injection_and_streaming():
    provider = LocalProvider()
    flaky = DEPLOYMENT.model_copy(
        update={"local": LocalBehaviour(fail_first=1, fail_with="rate_limited")}
    )
    with pytest.raises(ProviderError) as failed:
        await provider.complete(flaky, chat())
    assert failed.value.kind is ErrorKind.RATE_LIMITED
    events = [e async for e in provider.stream(flaky, chat("one two"))]
    assert [e.text for e in events if isinstance(e, Delta)] == ["[local-x]", " one", " two"]
    assert isinstance(events[-1], Finish)


async def test_prompt_beyond_the_context_window_fails_as_such():
    small = DEPLOYMENT.model_copy(update={"context_window": 5})
    with pytest.raises(ProviderError) as failed:
        await LocalProvider().complete(small, chat("x" * 100))
    assert failed.value.kind is ErrorKind.CONTEXT_WINDOW
