"""Build each provider once, each over its own pooled httpx.AsyncClient."""

from __future__ import annotations

import httpx

from .anthropic import AnthropicProvider
from .base import Provider
from .local import LocalProvider
from .openai import OpenAIProvider

__all__ = ["build_providers", "http_client"]


def http_client(
    *, connect_timeout_s: float, read_timeout_s: float, max_connections: int
) -> httpx.AsyncClient:
    """A pooled client with explicit connect/read timeouts; no retries below the router's."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
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
) -> dict[str, Provider]:
    """Provider name -> adapter."""

    def client() -> httpx.AsyncClient:
        return http_client(
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            max_connections=max_connections,
        )

    return {
        "openai": OpenAIProvider(client(), secrets),
        "anthropic": AnthropicProvider(client(), secrets, default_max_tokens=default_max_tokens),
        "local": LocalProvider(),
    }
