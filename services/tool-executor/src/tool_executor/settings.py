"""The tool-executor's settings: one class, env prefix TOOL_EXECUTOR_, nested with __."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentbus.bus import BusSettings
from agentbus.http import HttpSettings
from agentbus.telemetry import TelemetrySettings

__all__ = ["CallRetry", "Limits", "McpServer", "ToolExecutorSettings", "Topics"]


class CallRetry(BaseModel):
    """Retries of one tool call for transient failures (timeouts, 5xx, connection)."""

    max_attempts: int = Field(default=3, ge=1)
    initial_backoff_s: float = Field(default=0.2, ge=0)
    max_backoff_s: float = Field(default=5.0, ge=0)
    jitter_s: float = Field(default=0.1, ge=0)


class Limits(BaseModel):
    """Size and redirect limits that hold for every tool call."""

    max_result_bytes: int = Field(default=256 * 1024, ge=1, description="serialized result")
    max_response_bytes: int = Field(
        default=1024 * 1024, ge=1, description="HTTP response body, enforced while streaming"
    )
    max_redirects: int = Field(default=5, ge=0)
    http_max_connections: int = Field(
        default=1024, ge=1, description="open connections of the HTTP tool (>= in flight)"
    )
    registry_cache_s: float = Field(
        default=1.0,
        ge=0,
        description="how long a found definition or grant is reused (changes made by "
        "another process take effect within it; 0: read the registry on every call)",
    )
    dns_cache_s: float = Field(
        default=30.0, ge=0, description="how long a host's checked addresses are reused"
    )
    reservation_lease_s: float = Field(
        default=120.0, gt=0, description="how long an unfinished call blocks the same key"
    )


class McpServer(BaseModel):
    """An MCP server whose tools may be imported: a command over stdio or a streamable HTTP URL."""

    transport: Literal["stdio", "http"] = "stdio"
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(
        default_factory=dict, description="environment; values `secret:NAME` are resolved"
    )
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers; `{secret:NAME}` is replaced"
    )
    tenant: str = Field(default="*", description="tenant owning imported tools; * = shared")
    name_prefix: str | None = Field(default=None, description="default: mcp.<server>.")
    scopes: list[str] | None = Field(default=None, description="default: [mcp:<server>]")
    needs_approval: list[str] = Field(
        default_factory=list, description="remote tool names that need approval"
    )
    version: str = Field(default="1", description="version given to imported definitions")


class Topics(BaseModel):
    """Topics consumed; the catalogue's names unless a deployment namespaces them."""

    requests: str = "tool.requests"
    approval_requests: str = "approval.requests"
    approval_decisions: str = "approval.decisions"


class ToolExecutorSettings(BaseSettings):
    """Everything the tool-executor needs; defaults run locally."""

    model_config = SettingsConfigDict(
        env_prefix="TOOL_EXECUTOR_",
        env_nested_delimiter="__",
        extra="ignore",
        # TOOL_EXECUTOR_BUS__X=... keeps the other defaults below (consumer group...).
        nested_model_default_partial_update=True,
    )

    # 1000 records in flight (the bus's default is 500): each call waits for two group
    # commits besides its own I/O, so at 100 ms per call one process needs ~1000 in flight
    # to use its core (bench-tools: 260 calls/s at 200, 320 at 500, 400 at 1000; ADR 0302).
    bus: BusSettings = BusSettings(
        consumer_group="tool-executor",
        client_id="tool-executor",
        database_url="sqlite:///./var/tool-executor.db",
        max_in_flight=1000,
    )
    http: HttpSettings = HttpSettings(port=8083)
    telemetry: TelemetrySettings = TelemetrySettings()
    topics: Topics = Topics()
    log_level: str = "INFO"
    tools_dir: Path | None = Field(
        default=None, description="more YAML tool definitions, loaded at start"
    )
    load_bundled_tools: bool = Field(
        default=True, description="register the built-in definitions (inert without grants)"
    )
    grants_file: Path | None = Field(default=None, description="YAML grants loaded at start")
    secrets: dict[str, SecretStr] = Field(default_factory=dict, description="name -> value")
    secrets_dir: Path | None = Field(
        default=None, description="one file per secret, named by the secret (Kubernetes style)"
    )
    mcp_servers: dict[str, McpServer] = Field(default_factory=dict)
    import_mcp_on_start: bool = False
    call_retry: CallRetry = CallRetry()
    limits: Limits = Limits()
