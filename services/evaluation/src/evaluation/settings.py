"""Evaluation service settings: env prefix EVALUATION_, nested with `__`."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

__all__ = [
    "AlertRule",
    "DeadLetterSettings",
    "EvaluationBusSettings",
    "EvaluationHttpSettings",
    "EvaluationSettings",
    "JudgeSettings",
    "RecordedRunsSettings",
    "WebhookTarget",
]


class _TenantKeys(BaseModel):
    """Client API keys per tenant, from settings or a JSON file (keys stay out of the env)."""

    api_keys: dict[str, SecretStr] = Field(default_factory=dict, description="tenant -> key")
    api_keys_file: Path | None = Field(
        default=None, description='JSON file {"<tenant>": "<key>"}; api_keys win over it'
    )

    @model_validator(mode="after")
    def _read_file(self) -> _TenantKeys:
        if self.api_keys_file is not None:
            try:
                found = json.loads(self.api_keys_file.read_text())
            except (OSError, ValueError) as exc:
                raise ValueError(f"api_keys_file {self.api_keys_file}: {exc}") from exc
            if not isinstance(found, dict):
                raise ValueError(f"api_keys_file {self.api_keys_file}: not a JSON object")
            self.api_keys = {k: SecretStr(str(v)) for k, v in found.items()} | self.api_keys
        return self


class JudgeSettings(_TenantKeys):
    """The model-judged rubric scorer: the model-router's OpenAI-compatible API.

    `api_keys`: tenant -> router API key (the judge's spend is the tenant's).
    """

    url: str | None = Field(default=None, description="router base URL, e.g. http://127.0.0.1:8082")
    model: str = Field(default="default", description="alias a rubric uses unless it names one")
    timeout_s: float = Field(default=30.0, gt=0)


class RecordedRunsSettings(_TenantKeys):
    """Where shadow evaluations read recorded production runs: the planner's run API.

    `api_keys`: tenant -> planner API key (reads runs).
    """

    url: str | None = Field(default=None, description="planner base URL, e.g. :8081")
    timeout_s: float = Field(default=30.0, gt=0)
    max_runs: int = Field(default=100, ge=1, le=1000, description="most runs one shadow replays")


class WebhookTarget(BaseModel):
    """Where a tenant's alerts go and the secret that signs them."""

    url: str = Field(pattern=r"^https?://", description="receiver URL")
    secret: SecretStr = Field(description="HMAC-SHA256 key for X-Agentbus-Signature")


class AlertRule(BaseModel):
    """A threshold over a window on one workflow's production runs, or on a tenant's budget.

    `budget_used_fraction` watches the tenant's model spend (usage.records) against
    `budget_usd`, the model-router's limit for the tenant over `budget_period`: it fires
    once when the spend of the current period reaches `threshold` (e.g. 0.8) of it and
    resolves when a new period starts below it. `workflow` does not apply to it.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)
    tenant: str
    workflow: str | None = Field(default=None, description="required except for budget rules")
    version: str | None = None
    metric: Literal[
        "error_rate", "cost_per_run_usd", "latency_p95_ms", "dlq_count", "budget_used_fraction"
    ]
    threshold: float
    window_s: int = Field(default=300, ge=1)
    min_runs: int = Field(default=1, ge=1, description="runs in the window before it can fire")
    budget_usd: Decimal | None = Field(
        default=None, gt=0, description="budget rules: the router's limit for the tenant"
    )
    budget_period: Literal["day", "month"] = Field(
        default="month", description="budget rules: the router's period the limit is for"
    )

    @model_validator(mode="after")
    def _complete(self) -> AlertRule:
        if self.metric == "budget_used_fraction":
            if self.budget_usd is None:
                raise ValueError(f"alert rule {self.name!r}: a budget rule needs budget_usd")
            if not 0 < self.threshold <= 1:
                raise ValueError(f"alert rule {self.name!r}: threshold is a fraction in (0, 1]")
        elif self.workflow is None:
            raise ValueError(f"alert rule {self.name!r}: metric {self.metric} needs a workflow")
        return self


class DeadLetterSettings(BaseModel):
    """The reader of every `<topic>.dlq` topic (AgentOps DLQ counts and the DLQ alert)."""

    enabled: bool = True
    group_suffix: str = Field(default="-dlq", description="its consumer group: the bus's + this")
    poll_s: float = Field(default=1.0, gt=0, description="longest wait for new dead letters")
    count_interval_s: float = Field(
        default=30.0, gt=0, description="how often end offsets are read when nothing arrives"
    )
    metadata_max_age_s: float = Field(
        default=30.0, gt=0, description="how soon a newly created DLQ topic is subscribed"
    )


class EvaluationBusSettings(BusSettings):
    """The bus with this service's defaults (kept when single fields come from env)."""

    consumer_group: str = "evaluation"
    client_id: str = "evaluation"
    database_url: str = "sqlite:///./var/evaluation.db"
    # It reads usage.records (kept 400 days): handled ids must outlive a possible redelivery.
    bookkeeping_retention_days: float = 400


class EvaluationHttpSettings(HttpSettings):
    """HTTP with this service's local port."""

    port: int = Field(default=8087, ge=0, le=65535)


class EvaluationSettings(BaseSettings):
    """Everything the evaluation service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="EVALUATION_", env_nested_delimiter="__", extra="ignore"
    )

    bus: EvaluationBusSettings = Field(default_factory=EvaluationBusSettings)
    http: EvaluationHttpSettings = Field(default_factory=EvaluationHttpSettings)
    telemetry: TelemetrySettings = TelemetrySettings()
    judge: JudgeSettings = JudgeSettings()
    recorded_runs: RecordedRunsSettings = RecordedRunsSettings()
    dead_letters: DeadLetterSettings = DeadLetterSettings()
    alerts: list[AlertRule] = Field(default_factory=list)
    alerts_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="how often rules of workflows whose runs ended are evaluated",
    )
    webhooks: dict[str, WebhookTarget] = Field(
        default_factory=dict, description="tenant -> alert webhook"
    )
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    topic_prefix: str = Field(default="", description="prefix of every topic name (tests)")
    admin_role: str = Field(default="admin", description="role that may override the gate")
    list_limit: int = Field(default=100, ge=1, le=1000)
    log_level: str = "INFO"
