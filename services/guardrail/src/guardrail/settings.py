"""Guardrail settings: env prefix GUARDRAIL_, nested with `__`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

__all__ = [
    "DEV_VAULT_KEY",
    "GuardrailBusSettings",
    "GuardrailHttpSettings",
    "GuardrailSettings",
    "GuardrailTopics",
]

# Lets `guardrail` run locally out of the box; the service warns when it is in use.
DEV_VAULT_KEY = "agentbus-guardrail-development-key-do-not-use-in-production"
_BUNDLED_POLICIES = Path(__file__).resolve().parent / "policies"


class GuardrailBusSettings(BusSettings):
    """The bus with the guardrail's defaults.

    A subclass rather than `BusSettings(consumer_group=...)`: an environment variable such
    as GUARDRAIL_BUS__BOOTSTRAP_SERVERS rebuilds the nested model from its class defaults,
    which would otherwise silently fall back to the generic group and database.
    """

    consumer_group: str = "guardrail"
    client_id: str = "guardrail"
    database_url: str = "sqlite:///./var/guardrail.db"


class GuardrailHttpSettings(HttpSettings):
    """HTTP with the guardrail's local port (8080 inside containers, set by env)."""

    port: int = Field(default=8084, ge=0, le=65535)


class GuardrailTopics(BaseModel):
    """Topics read and written; the catalogue's by default (tests use their own)."""

    requests: str = "guardrail.requests"
    verdicts: str = "guardrail.verdicts"
    audit: str = "audit.log"


class GuardrailSettings(BaseSettings):
    """Everything the guardrail reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="GUARDRAIL_", env_nested_delimiter="__", extra="ignore"
    )

    bus: GuardrailBusSettings = GuardrailBusSettings()
    http: GuardrailHttpSettings = GuardrailHttpSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    log_level: str = "INFO"
    topics: GuardrailTopics = GuardrailTopics()
    policy_dir: Path = Field(
        default=_BUNDLED_POLICIES,
        description="<dir>/<tenant>/<name>.yaml, with <dir>/_default/ for every tenant",
    )
    policy_check_interval_s: float = Field(
        default=1.0, ge=0, description="how often a policy file's mtime is looked at"
    )
    vault_master_key: SecretStr = Field(
        default=SecretStr(DEV_VAULT_KEY),
        min_length=32,
        description="derives each tenant's vault, token and hash keys (HKDF-SHA256)",
    )
    restore_role: str = Field(
        default="guardrail.restore", description="role a caller needs to restore tokens"
    )
    check_role: str | None = Field(
        default=None, description="role a caller needs for /check (None: any authenticated)"
    )
