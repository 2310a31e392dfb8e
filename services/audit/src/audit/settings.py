"""The audit service's settings: one BaseSettings, env prefix AUDIT_, nested with __."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

__all__ = ["AuditSettings", "SigningSettings"]


class SigningSettings(BaseModel):
    """The Ed25519 key that signs checkpoints (base64 of the 32-byte seed)."""

    private_key: SecretStr | None = Field(
        default=None, description="base64 seed; `audit keygen` makes one"
    )
    private_key_file: Path | None = Field(
        default=Path("./var/audit-signing.key"),
        description="file holding the base64 seed; created on first start when missing",
    )
    create_missing: bool = Field(
        default=True, description="create private_key_file when absent (development)"
    )


class AuditSettings(BaseSettings):
    """Everything the audit service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="AUDIT_",
        env_nested_delimiter="__",
        extra="ignore",
        # AUDIT_BUS__X=... keeps the other defaults below (consumer group...).
        nested_model_default_partial_update=True,
    )

    bus: BusSettings = BusSettings(
        consumer_group="audit", database_url="sqlite:///./var/audit.db", client_id="audit"
    )
    http: HttpSettings = HttpSettings(port=8086)
    telemetry: TelemetrySettings = TelemetrySettings()
    signing: SigningSettings = SigningSettings()
    topic: str = Field(default="audit.log", description="the audit topic to consume")
    checkpoint_interval_s: float = Field(
        default=60.0, gt=0, description="how often chain heads are signed"
    )
    page_limit_max: int = Field(default=1000, ge=1, description="largest page of GET /v1/audit")
    log_level: str = "INFO"
