"""Settings of the model-router: one BaseSettings, env prefix MODEL_ROUTER_, nested with __."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

__all__ = ["ModelRouterSettings", "ReliabilitySettings", "RouterBusSettings"]


class RouterBusSettings(BusSettings):
    """BusSettings with the router's defaults, kept when env sets only some fields."""

    consumer_group: str = "model-router"
    client_id: str = "model-router"
    database_url: str = "sqlite:///./var/model-router.db"


class RouterHttpSettings(HttpSettings):
    """HttpSettings with the router's local port."""

    port: int = Field(default=8082, ge=0, le=65535)


class ReliabilitySettings(BaseModel):
    """The one retry loop, the breakers and the provider connections."""

    max_attempts: int = Field(default=3, ge=1, description="tries per deployment, first included")
    initial_backoff_s: float = Field(default=0.2, gt=0)
    max_backoff_s: float = Field(default=5.0, gt=0)
    jitter_s: float = Field(default=0.2, ge=0)
    max_retry_after_s: float = Field(
        default=10.0, ge=0, description="longer Retry-After: fall back instead of waiting"
    )
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=60.0, gt=0)
    max_connections: int = Field(default=200, ge=1, description="per provider")
    transport: Literal["aiohttp", "httpx"] = Field(
        default="aiohttp", description="connection pool under the httpx client"
    )


class ModelRouterSettings(BaseSettings):
    """Everything the model-router reads at start; defaults run locally with no keys."""

    model_config = SettingsConfigDict(
        env_prefix="MODEL_ROUTER_", env_nested_delimiter="__", extra="ignore"
    )

    bus: RouterBusSettings = RouterBusSettings()
    http: RouterHttpSettings = RouterHttpSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    routing_config: Path | None = Field(
        default=None, description="YAML routing configuration; None = the packaged local one"
    )
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="provider API keys, named by deployments' api_key_ref"
    )
    secrets_dir: Path | None = Field(
        default=None, description="directory of one file per secret (name = file name)"
    )
    reliability: ReliabilitySettings = ReliabilitySettings()
    default_max_tokens: int = Field(
        default=1024, ge=1, description="completion cap when a request gives none"
    )
    cache_ttl_s: float = Field(default=300.0, ge=0)
    cache_only_deterministic: bool = Field(
        default=True, description="cache only temperature-0 requests"
    )
    stale_hold_after_s: float = Field(
        default=900.0,
        gt=0,
        description="release budget holds of HTTP calls open this long (their process died)",
    )
    consume: bool = Field(default=True, description="run the Kafka consumer of model.requests")
    request_topic: str = Field(default="model.requests", description="where requests arrive")
    reply_topic: str = Field(default="model.responses", description="where replies go")
    log_level: str = "INFO"
