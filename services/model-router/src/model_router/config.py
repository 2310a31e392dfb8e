"""Routing configuration: deployments, aliases, tenants; versioned YAML validated on load."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "AliasConfig",
    "BudgetConfig",
    "ConfigError",
    "DeploymentConfig",
    "LocalBehaviour",
    "PriceOverride",
    "RateLimitConfig",
    "RoutingConfig",
    "Strategy",
    "TenantConfig",
    "Tier",
    "default_config",
    "load_config",
    "parse_config",
]

SUPPORTED_VERSIONS = (1,)


class ConfigError(ValueError):
    """The routing configuration is invalid; the message names each bad field."""


class Strategy(StrEnum):
    """How an alias orders its deployments."""

    PRIORITY = "priority"
    LOWEST_COST = "lowest_cost"
    LOWEST_LATENCY = "lowest_latency"
    WEIGHTED = "weighted"


class Tier(StrEnum):
    """Quality tiers, cheapest first."""

    CHEAP = "cheap"
    STANDARD = "standard"
    PREMIUM = "premium"

    @property
    def rank(self) -> int:
        """Position in cheap < standard < premium."""
        return list(Tier).index(self)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriceOverride(_Strict):
    """USD per token, replacing the vendored price table for one deployment."""

    input_per_token: Decimal = Field(ge=0)
    output_per_token: Decimal = Field(ge=0)


class LocalBehaviour(_Strict):
    """What the deterministic local provider does: latency and injected failures."""

    latency_ms: float = Field(default=0, ge=0)
    fail_first: int = Field(default=0, ge=0, description="fail this many calls, then answer")
    fail_every: int = Field(default=0, ge=0, description="fail every n-th call (0 = never)")
    fail_with: Literal[
        "server", "timeout", "rate_limited", "context_window_exceeded", "content_policy"
    ] = "server"
    answer: str | None = Field(default=None, description="fixed text answer (template: {last})")


class DeploymentConfig(_Strict):
    """One concrete model behind a provider endpoint."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    provider: Literal["openai", "anthropic", "local"]
    model: str = Field(min_length=1)
    endpoint: str | None = Field(default=None, description="base URL, e.g. https://host/v1")
    api_key_ref: str | None = Field(default=None, description="name of a secret in settings")
    context_window: int = Field(default=8192, ge=1)
    tier: Tier = Tier.STANDARD
    weight: float = Field(default=1.0, gt=0)
    price: PriceOverride | None = None
    local: LocalBehaviour = LocalBehaviour()

    @model_validator(mode="after")
    def _endpoint(self) -> DeploymentConfig:
        if self.provider != "local" and not self.endpoint:
            raise ValueError(f"deployment {self.id!r}: provider {self.provider} needs endpoint")
        return self


class AliasConfig(_Strict):
    """An alias: ordered deployments and how to pick among them."""

    deployments: list[str] = Field(min_length=1)
    strategy: Strategy = Strategy.PRIORITY
    tier: Tier | None = Field(default=None, description="lowest_cost: the minimum tier")
    simple_alias: str | None = Field(
        default=None, description="send simple requests to this (cheaper) alias instead"
    )
    simple_max_prompt_tokens: int = Field(default=256, ge=1)


class BudgetConfig(_Strict):
    """Per-tenant spending limits; None is unlimited."""

    day_usd: Decimal | None = Field(default=None, ge=0)
    month_usd: Decimal | None = Field(default=None, ge=0)
    day_tokens: int | None = Field(default=None, ge=0)
    month_tokens: int | None = Field(default=None, ge=0)


class RateLimitConfig(_Strict):
    """Per-tenant limits per minute; None is unlimited."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)


class TenantConfig(_Strict):
    """A tenant's own aliases, limits and content-recording setting."""

    aliases: dict[str, AliasConfig] = Field(default_factory=dict)
    budget: BudgetConfig = BudgetConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    record_content: bool = Field(default=False, description="record masked text on spans")


class RoutingConfig(_Strict):
    """The whole configuration; `version` is the schema version of this file."""

    version: int
    deployments: list[DeploymentConfig] = Field(min_length=1)
    aliases: dict[str, AliasConfig] = Field(default_factory=dict, description="for all tenants")
    tenants: dict[str, TenantConfig] = Field(default_factory=dict)
    default_tenant: TenantConfig = TenantConfig()

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        if self.version not in SUPPORTED_VERSIONS:
            raise ValueError(f"version {self.version} unsupported; expected {SUPPORTED_VERSIONS}")
        ids = [d.id for d in self.deployments]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate deployment ids: {duplicates}")
        problems: list[str] = []
        scopes = [("aliases", self.aliases)] + [
            (f"tenants.{name}.aliases", t.aliases) for name, t in self.tenants.items()
        ]
        for scope, aliases in scopes:
            visible = {**self.aliases, **aliases}
            for name, alias in aliases.items():
                problems += [
                    f"{scope}.{name}: unknown deployment {d!r}"
                    for d in alias.deployments
                    if d not in ids
                ]
                if alias.simple_alias and alias.simple_alias not in visible:
                    problems.append(f"{scope}.{name}: unknown simple_alias {alias.simple_alias!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def deployment(self, deployment_id: str) -> DeploymentConfig:
        """The deployment with this id."""
        return next(d for d in self.deployments if d.id == deployment_id)

    def tenant(self, tenant_id: str) -> TenantConfig:
        """A tenant's settings (the default tenant's when it has none)."""
        return self.tenants.get(tenant_id, self.default_tenant)

    def aliases_for(self, tenant_id: str) -> dict[str, AliasConfig]:
        """Aliases visible to a tenant: global ones, overridden by its own."""
        return {**self.aliases, **self.tenant(tenant_id).aliases}


def parse_config(raw: Any) -> RoutingConfig:
    """Validate a parsed document; ConfigError lists every problem with its location."""
    try:
        return RoutingConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("invalid routing configuration:\n  " + "\n  ".join(lines)) from exc


def default_config() -> RoutingConfig:
    """The packaged local-only configuration (no keys, no network)."""
    text = resources.files("model_router").joinpath("data/default_routing.yaml").read_text()
    return parse_config(yaml.safe_load(text))


def load_config(path: Path) -> RoutingConfig:
    """Read and validate a YAML routing configuration file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read routing configuration {path}: {exc}") from exc
    return parse_config(raw)
