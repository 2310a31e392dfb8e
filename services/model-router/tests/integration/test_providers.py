"""The routing core against real HTTP servers speaking OpenAI's and Anthropic's wire formats."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from model_router.config import parse_config
from model_router.domain import ErrorKind
from model_router.pricing import load_price_table
from model_router.providers import build_providers
from model_router.providers.base import Delta
from model_router.router import Routed, RoutingFailedError, StreamFailed, StreamStarted

from ..conftest import chat, make_router
from ..fakes import (
    COMPLETION_TOKENS,
    CONTEXT,
    CUT,
    MALFORMED,
    NO_USAGE,
    POLICY,
    PROMPT_TOKENS,
    RATE_LIMITED,
    SERVER,
    TIMEOUT,
    FakeProviders,
    serve_in_thread,
)

pytestmark = pytest.mark.integration

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeProviders, str]]:
    providers = FakeProviders(timeout_s=1.0)
    with serve_in_thread(providers.app) as url:
        yield providers, url


def config(url: str, primary: str, *, primary_window: int = 8192) -> Any:
    """`main` alias: a primary of the given provider, then a larger OpenAI fallback."""
    endpoint = f"{url}/v1" if primary == "openai" else url
    model = OPENAI_MODEL if primary == "openai" else ANTHROPIC_MODEL
    return parse_config(
        {
            "version": 1,
            "deployments": [
                {
                    "id": f"primary-{primary}",
                    "provider": primary,
                    "model": model,
                    "endpoint": endpoint,
                    "context_window": primary_window,
                },
                {
                    "id": "fallback",
                    "provider": "openai",
                    "model": "gpt-4.1",
                    "endpoint": f"{url}/v1",
                    "context_window": 1_000_000,
                },
            ],
            "aliases": {"main": {"deployments": [f"primary-{primary}", "fallback"]}},
        }
    )


_OPEN: list[Any] = []


def adapters() -> dict[str, Any]:
    providers = build_providers(
        {}, connect_timeout_s=1.0, read_timeout_s=0.5, max_connections=20, default_max_tokens=64
    )
    _OPEN.append(providers)
    return providers


@pytest.fixture(autouse=True)
async def _close_clients() -> Any:
    yield
    while _OPEN:
        for provider in _OPEN.pop().values():
            await provider.aclose()


def network_router(url: str, primary: str, **retry: Any):
    return make_router(config(url, primary), adapters(), **retry)


@pytest.mark.parametrize("primary", ["openai", "anthropic"])
async def test_cost_is_price_times_tokens(fake, primary):
    _providers, url = fake
    router = network_router(url, primary)
    plan = router.plan("t", "main", chat())
    routed = await router.complete(plan, chat())
    usage = routed.completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert not usage.estimated
    price = load_price_table().for_deployment(plan.deployments[0])
    assert price.input_per_token > 0
    expected = price.input_per_token * PROMPT_TOKENS + price.output_per_token * COMPLETION_TOKENS
    assert routed.cost_usd == expected
    assert routed.completion.content == "fake answer"


@pytest.mark.parametrize("primary", ["openai", "anthropic"])
async def test_stream_is_metered_and_costed_like_a_plain_call(fake, primary):
    _providers, url = fake
    router = network_router(url, primary)
    plain = await router.complete(router.plan("t", "main", chat()), chat())
    events = [e async for e in router.stream(router.plan("t", "main", chat()), chat())]
    assert isinstance(events[0], StreamStarted)
    assert [e.text for e in events if isinstance(e, Delta)] == ["fake", " answer"]
    final = events[-1]
    assert isinstance(final, Routed)
    assert final.completion.usage == plain.completion.usage
    assert final.cost_usd == plain.cost_usd > 0
    assert final.completion.content == "fake answer"


@pytest.mark.parametrize("primary", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("behaviour", "tries"),
    [(RATE_LIMITED, 3), (SERVER, 3), (TIMEOUT, 3), (MALFORMED, 1), (CONTEXT, 1), (POLICY, 1)],
)
async def test_fallback_on_each_error_class(fake, primary, behaviour, tries):
    providers, url = fake
    model = OPENAI_MODEL if primary == "openai" else ANTHROPIC_MODEL
    router = network_router(url, primary)
    before, fallback_before = providers.calls[model], providers.calls["gpt-4.1"]
    providers.script(model, *[behaviour] * tries)
    routed = await router.complete(router.plan("t", "main", chat()), chat())
    assert routed.deployment.id == "fallback"
    # Transient errors are retried (3 tries), the others are not retried at all.
    assert providers.calls[model] - before == tries
    assert providers.calls["gpt-4.1"] - fallback_before == 1
    assert (
        routed.failures[0].kind.value
        in {
            RATE_LIMITED: "rate_limited",
            SERVER: "server",
            TIMEOUT: "timeout",
            MALFORMED: "malformed_response",
            CONTEXT: "context_window_exceeded",
            POLICY: "content_policy",
        }[behaviour]
    )


async def test_context_window_error_skips_smaller_deployments(fake):
    providers, url = fake
    conf = parse_config(
        {
            "version": 1,
            "deployments": [
                {
                    "id": "small",
                    "provider": "openai",
                    "model": "m-small",
                    "endpoint": f"{url}/v1",
                    "context_window": 8192,
                },
                {
                    "id": "also-small",
                    "provider": "openai",
                    "model": "m-also-small",
                    "endpoint": f"{url}/v1",
                    "context_window": 4096,
                },
                {
                    "id": "large",
                    "provider": "openai",
                    "model": "m-large",
                    "endpoint": f"{url}/v1",
                    "context_window": 200000,
                },
            ],
            "aliases": {"main": {"deployments": ["small", "also-small", "large"]}},
        }
    )
    router = make_router(conf, adapters())
    providers.script("m-small", CONTEXT)
    routed = await router.complete(router.plan("t", "main", chat()), chat())
    assert routed.deployment.id == "large"
    assert providers.calls["m-also-small"] == 0


async def test_retry_after_is_honoured_and_a_long_one_falls_back(fake):
    providers, url = fake
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    router = network_router(url, "openai")
    router.sleep = sleep
    providers.retry_after = "2"
    providers.script(OPENAI_MODEL, RATE_LIMITED)
    routed = await router.complete(router.plan("t", "main", chat()), chat())
    assert routed.deployment.id == "primary-openai"
    assert slept == [2.0]
    providers.retry_after = "60"  # beyond max_retry_after_s: the next deployment answers now
    providers.script(OPENAI_MODEL, RATE_LIMITED)
    routed = await router.complete(router.plan("t", "main", chat()), chat())
    providers.retry_after = "0"
    assert routed.deployment.id == "fallback"
    assert slept == [2.0]


async def test_non_transient_error_everywhere_is_not_retried(fake):
    providers, url = fake
    router = network_router(url, "openai")
    before = (providers.calls[OPENAI_MODEL], providers.calls["gpt-4.1"])
    providers.script(OPENAI_MODEL, POLICY)
    providers.script("gpt-4.1", POLICY)
    with pytest.raises(RoutingFailedError) as failed:
        await router.complete(router.plan("t", "main", chat()), chat())
    assert failed.value.kind is ErrorKind.CONTENT_POLICY
    assert (providers.calls[OPENAI_MODEL], providers.calls["gpt-4.1"]) == (
        before[0] + 1,
        before[1] + 1,
    )


@pytest.mark.parametrize("primary", ["openai", "anthropic"])
async def test_stream_failing_before_first_token_falls_back_transparently(fake, primary):
    providers, url = fake
    model = OPENAI_MODEL if primary == "openai" else ANTHROPIC_MODEL
    router = network_router(url, primary, max_attempts=1)
    providers.script(model, SERVER)
    events = [e async for e in router.stream(router.plan("t", "main", chat()), chat())]
    assert [type(e) for e in events].count(StreamStarted) == 1
    assert events[0].deployment.id == "fallback"
    assert isinstance(events[-1], Routed)


@pytest.mark.parametrize("primary", ["openai", "anthropic"])
async def test_stream_cut_after_first_chunk_ends_with_an_error_and_is_billed(fake, primary):
    providers, url = fake
    model = OPENAI_MODEL if primary == "openai" else ANTHROPIC_MODEL
    router = network_router(url, primary)
    fallback_before = providers.calls["gpt-4.1"]
    providers.script(model, CUT)
    events = [e async for e in router.stream(router.plan("t", "main", chat()), chat())]
    assert [e.text for e in events if isinstance(e, Delta)] == ["fake"]
    failed = events[-1]
    assert isinstance(failed, StreamFailed)
    assert failed.error.kind is ErrorKind.CONNECTION
    assert failed.partial.completion.usage.estimated
    assert failed.partial.cost_usd > 0
    assert providers.calls["gpt-4.1"] == fallback_before  # no fallback once tokens flowed


async def test_missing_usage_is_estimated_and_flagged(fake):
    providers, url = fake
    router = network_router(url, "openai")
    providers.script(OPENAI_MODEL, NO_USAGE)
    routed = await router.complete(router.plan("t", "main", chat()), chat())
    assert routed.completion.usage.estimated
    assert routed.completion.usage.completion_tokens > 0
    assert routed.cost_usd > Decimal(0)


async def test_breaker_opens_rejects_fast_and_half_opens(fake):
    providers, url = fake
    now = [0.0]
    router = network_router(url, "openai", max_attempts=1)
    router.clock = lambda: now[0]
    router.breakers.threshold = 2
    router.breakers.cooldown_s = 10
    providers.script(OPENAI_MODEL, SERVER, SERVER)
    for _ in range(2):
        routed = await router.complete(router.plan("t", "main", chat()), chat())
        assert routed.deployment.id == "fallback"
    calls = providers.calls[OPENAI_MODEL]
    routed = await router.complete(router.plan("t", "main", chat()), chat())
    assert routed.deployment.id == "fallback"
    assert routed.failures[0].kind is ErrorKind.CIRCUIT_OPEN
    assert providers.calls[OPENAI_MODEL] == calls  # open: rejected without a call
    now[0] = 11.0  # cool-down over: one probe goes through and closes the breaker
    routed = await router.complete(router.plan("t", "main", chat()), chat())
    assert routed.deployment.id == "primary-openai"
    assert providers.calls[OPENAI_MODEL] == calls + 1
    assert int(router.breakers.get("primary-openai").state(now[0])) == 0
