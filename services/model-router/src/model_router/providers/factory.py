"""Build each provider once, each over its own pooled httpx.AsyncClient."""

from __future__ import annotations

from typing import Literal

import httpx
from httpx_aiohttp import AiohttpTransport

from .anthropic import AnthropicProvider
from .base import Provider
from .local import LocalProvider
from .openai import OpenAIProvider

__all__ = ["Transport", "build_providers", "http_client"]


Transport = Literal["aiohttp", "httpx"]


def http_client(
    *,
    connect_timeout_s: float,
    read_timeout_s: float,
    max_connections: int,
    transport: Transport = "aiohttp",
) -> httpx.AsyncClient:
    """A pooled client with explicit connect/read timeouts; no retries below the router's.

    The httpx API over aiohttp's connection pool by default: httpcore's pool spends ~2-3 ms
    of CPU per request at 50 in flight (measured by bench/model_router_overhead.py), aiohttp's
    ~0.5 ms, and that is the router's throughput ceiling.
    """
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    pool = AiohttpTransport(limits=limits, trust_env=False) if transport == "aiohttp" else None
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
        limits=limits,
        transport=pool,
        # Proxies from the environment would be a hidden os.environ read; routes are explicit.
        trust_env=False,
    )


def build_providers(
    secrets: dict[str, str],
    *,
    connect_timeout_s: float,
    read_timeout_s: float,
    max_connections: int,
    default_max_tokens: int,
    transport: Transport = "aiohttp",
) -> dict[str, Provider]:
    """Provider name -> adapter."""

    def client() -> httpx.AsyncClient:
        return http_client(
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            max_connections=max_connections,
            transport=transport,
        )

    return {
        "openai": OpenAIProvider(client(), secrets),
        "anthropic": AnthropicProvider(client(), secrets, default_max_tokens=default_max_tokens),
        "local": LocalProvider(),
    }
