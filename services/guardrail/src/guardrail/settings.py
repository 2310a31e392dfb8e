"""Guardrail settings: env prefix GUARDRAIL_, nested with `__`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

__all__ = ["DEV_VAULT_KEY", "GuardrailSettings", "GuardrailTopics"]

# Lets `guardrail` run locally out of the box; the service warns when it is in use.
DEV_VAULT_KEY = "agentbus-guardrail-development-key-do-not-use-in-production"
_BUNDLED_POLICIES = Path(__file__).resolve().parent / "policies"


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

    bus: BusSettings = BusSettings(
        consumer_group="guardrail",
        client_id="guardrail",
        database_url="sqlite:///./var/guardrail.db",
    )
    http: HttpSettings = HttpSettings(port=8084)
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
