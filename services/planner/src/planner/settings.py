"""The planner's settings: one class, env prefix PLANNER_, nested bus and HTTP settings."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

from .quality_gate_http import QualityGateSettings

__all__ = ["DraftingSettings", "PlannerSettings"]


class DraftingSettings(BaseModel):
    """Drafting definitions from a goal through the model-router."""

    model_alias: str = Field(default="default", description="model alias asked to draft")
    max_repairs: int = Field(default=2, ge=0, le=10, description="repairs after the first try")


class PlannerSettings(BaseSettings):
    """Everything the planner process reads from its environment."""

    # Partial update: PLANNER_BUS__X=... keeps the other defaults below (consumer group...).
    model_config = SettingsConfigDict(
        env_prefix="PLANNER_", env_nested_delimiter="__", nested_model_default_partial_update=True
    )

    bus: BusSettings = BusSettings(
        client_id="planner",
        consumer_group="planner",
        database_url="sqlite:///./var/planner.db",
        # Step timeouts and retries are timers: fire them within 200 ms of their time.
        timer_poll_interval_s=0.2,
    )
    http: HttpSettings = HttpSettings(port=8081)
    telemetry: TelemetrySettings = TelemetrySettings()
    drafting: DraftingSettings = DraftingSettings()
    quality_gate: QualityGateSettings = QualityGateSettings()  # the evaluation service
    topic_prefix: str = Field(
        default="", description="prefix of every topic name (isolated environments, tests)"
    )
    list_limit: int = Field(default=100, ge=1, le=1000, description="largest page of a listing")
    log_level: str = "INFO"
    serve_http: bool = Field(default=True, description="False runs the consumers only")
