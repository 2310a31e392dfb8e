"""Approval service settings: env prefix APPROVAL_, nested with `__`."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

__all__ = [
    "ApprovalBusSettings",
    "ApprovalHttpSettings",
    "ApprovalSettings",
    "ApprovalTopics",
    "WebhookSettings",
    "WebhookTarget",
]


class ApprovalTopics(BaseModel):
    """Topics read and written; the catalogue's by default (tests use their own)."""

    requests: str = "approval.requests"
    decisions: str = "approval.decisions"
    audit: str = "audit.log"


class WebhookTarget(BaseModel):
    """Where one tenant's notifications go and the secret that signs them."""

    url: str = Field(pattern=r"^https?://", description="receiver URL")
    secret: SecretStr = Field(description="HMAC-SHA256 key for X-Agentbus-Signature")


class WebhookSettings(BaseModel):
    """Delivery of notifications: per-tenant targets, retries with exponential backoff."""

    targets: dict[str, WebhookTarget] = Field(default_factory=dict, description="tenant -> target")
    max_attempts: int = Field(default=8, ge=1)
    initial_backoff_s: float = Field(default=1.0, gt=0)
    max_backoff_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0, description="one delivery attempt")
    poll_interval_s: float = Field(default=0.5, gt=0)
    batch_size: int = Field(default=20, ge=1)
    lease_s: float = Field(default=30.0, gt=0, description="a claimed delivery's lease")


class ApprovalBusSettings(BusSettings):
    """The bus with this service's defaults (kept when single fields come from env)."""

    consumer_group: str = "approval"
    client_id: str = "approval"
    database_url: str = "sqlite:///./var/approval.db"


class ApprovalHttpSettings(HttpSettings):
    """HTTP with this service's local port."""

    port: int = Field(default=8085, ge=0, le=65535)


class ApprovalSettings(BaseSettings):
    """Everything the approval service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="APPROVAL_", env_nested_delimiter="__", extra="ignore"
    )

    bus: ApprovalBusSettings = Field(default_factory=ApprovalBusSettings)
    http: ApprovalHttpSettings = Field(default_factory=ApprovalHttpSettings)
    telemetry: TelemetrySettings = TelemetrySettings()
    log_level: str = "INFO"
    webhooks: WebhookSettings = WebhookSettings()
    topics: ApprovalTopics = ApprovalTopics()
    approver_role: str = Field(
        default="approver", description="role every caller of the decision API needs"
    )
    expiry_warning_s: float = Field(
        default=0.0, ge=0, description="notify this long before a deadline (0: never)"
    )
    list_limit: int = Field(default=100, ge=1, le=1000, description="most pending rows per page")
