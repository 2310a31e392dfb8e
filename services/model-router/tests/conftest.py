"""Shared fixtures: a routing configuration, a router service, and a fresh database."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from model_router.breaker import BreakerBoard
from model_router.config import RoutingConfig, parse_config
from model_router.domain import ChatRequest, Message
from model_router.genai import GenAiTelemetry
from model_router.pricing import load_price_table
from model_router.providers.local import LocalProvider
from model_router.router import RetrySettings, Router
from model_router.service import CallSettings, RouterService
from model_router.tables import METADATA

from agentbus.bus import unit_factory
from agentbus.storage import UnitOfWorkFactory, create_engine


def local_config(**tenants: Any) -> RoutingConfig:
    """Two local deployments behind `fast`; tenants as given."""
    return parse_config(
        {
            "version": 1,
            "deployments": [
                {
                    "id": "local-a",
                    "provider": "local",
                    "model": "local-a",
                    "price": {"input_per_token": "0.000001", "output_per_token": "0.000002"},
                },
                {
                    "id": "local-b",
                    "provider": "local",
                    "model": "local-b",
                    "context_window": 100000,
                },
            ],
            "aliases": {"fast": {"deployments": ["local-a", "local-b"]}},
            "tenants": tenants,
        }
    )


def make_router(
    config: RoutingConfig, providers: dict[str, Any] | None = None, **retry: Any
) -> Router:
    """A router with instant sleeps, so retries cost no wall time in tests."""

    async def no_sleep(_seconds: float) -> None:
        return None

    return Router(
        config=config,
        providers=providers or {"local": LocalProvider()},
        prices=load_price_table(),
        retry=RetrySettings(**{"max_attempts": 3, **retry}),
        breakers=BreakerBoard(threshold=3, cooldown_s=30),
        rng=random.Random(7),
        sleep=no_sleep,
    )


def chat(text: str = "hello", **kwargs: Any) -> ChatRequest:
    """A one-message request."""
    return ChatRequest(messages=(Message("user", text),), **kwargs)


@pytest.fixture
def service_for() -> Callable[[RoutingConfig], RouterService]:
    """Build a RouterService over a configuration."""

    def build(config: RoutingConfig, **settings: Any) -> RouterService:
        return RouterService(make_router(config), CallSettings(**settings), GenAiTelemetry())

    return build


@pytest.fixture
async def uow_factory(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    """A unit-of-work factory over fresh router and bus tables, SQLite then PostgreSQL."""
    from agentbus.storage.tables import OutboxEntry

    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
        await conn.run_sync(OutboxEntry.metadata.create_all)
    yield unit_factory(engine)
    await engine.dispose()
