"""Bus settings: a plain model that each service's BaseSettings nests and passes in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

__all__ = ["BusSettings", "KafkaSecurity", "RetryPolicy"]


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter for transient handler failures."""

    max_attempts: int = Field(default=5, ge=1, description="attempts before dead-lettering")
    initial_backoff_s: float = Field(default=0.2, gt=0)
    max_backoff_s: float = Field(default=10.0, gt=0)
    jitter_s: float = Field(default=0.5, ge=0)


class KafkaSecurity(BaseModel):
    """Client security; PLAINTEXT on loopback for development, SASL_SSL in production."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: str | None = None


class BusSettings(BaseModel):
    """How one service talks to Kafka and its own database."""

    bootstrap_servers: str = "127.0.0.1:19092"
    client_id: str = "agentbus"
    consumer_group: str = "agentbus"
    database_url: str = "sqlite:///./agentbus.db"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    retry: RetryPolicy = RetryPolicy()
    handler_timeout_s: float = Field(
        default=60.0, gt=0, description="longest one attempt of a handler may take"
    )
    redelivery_pause_s: float = Field(
        default=1.0, ge=0, description="pause before re-reading a record whose DLQ publish failed"
    )
    outbox_relay_interval_s: float = Field(default=1.0, gt=0)
    outbox_relay_grace_s: float = Field(
        default=5.0, ge=0, description="age before the background relay takes an outbox row"
    )
    outbox_batch_size: int = Field(default=500, ge=1)
    timer_poll_interval_s: float = Field(
        default=0.5, gt=0, description="how often due timers are fired (their worst lateness)"
    )
    timer_batch_size: int = Field(default=500, ge=1, description="timers fired per transaction")
    commit_every: int = Field(
        default=100, ge=1, description="settled records between offset commits (1 = each)"
    )
    commit_interval_s: float = Field(
        default=0.5, gt=0, description="longest time a settled record waits for its commit"
    )
    bookkeeping_retention_days: float = Field(
        default=30,
        gt=0,
        description="keep inbox and published outbox rows this long; must exceed topic retention",
    )
    max_poll_interval_ms: int = Field(default=300_000, ge=10_000)
    session_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="a member silent this long leaves the group"
    )
    heartbeat_interval_ms: int = Field(
        default=1_000,
        ge=100,
        description="how soon members hear of a rebalance (a replica joining or leaving)",
    )
    max_in_flight: int = Field(
        default=500,
        ge=1,
        description="records handed to handlers and not yet settled, per consumer (I/O topics)",
    )
    max_poll_records: int = Field(
        default=500, ge=1, description="records per fetch; a batch of short handlers shares one"
    )
    poll_timeout_ms: int = Field(default=100, ge=0, description="longest wait of one fetch")
    revoke_drain_s: float = Field(
        default=10.0,
        ge=0,
        description="at a rebalance, how long running handlers may finish before hand-over",
    )
    max_request_size: int = Field(
        default=8 * 1024 * 1024,
        ge=1024 * 1024,
        description=(
            "largest request the producer sends (bytes); at least the max.message.bytes of "
            "every topic this service reads, so any of its records can be dead-lettered"
        ),
    )
    metadata_timeout_s: float = Field(
        default=5.0, gt=0, description="how long tools wait for topic metadata before failing"
    )
    dlq_truncated_value_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="what is kept of a dead letter's value when its DLQ refuses it whole",
    )
    security: KafkaSecurity = KafkaSecurity()
