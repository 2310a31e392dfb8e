"""The approval service's OpenTelemetry instruments."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import Counter, Histogram, MeterProvider

__all__ = ["ApprovalMetrics"]


@dataclass(frozen=True)
class ApprovalMetrics:
    """Counters and histograms, tagged by tenant and outcome (never by person)."""

    decisions: Counter
    votes: Counter
    time_to_decision: Histogram
    webhooks: Counter

    @classmethod
    def create(cls, provider: MeterProvider | None = None) -> ApprovalMetrics:
        """Instruments on `provider` (the global one when None)."""
        meter = (provider or metrics.get_meter_provider()).get_meter("agentbus.approval")
        return cls(
            decisions=meter.create_counter(
                "approval.decisions", unit="{request}", description="final outcomes by outcome"
            ),
            votes=meter.create_counter(
                "approval.votes", unit="{vote}", description="votes by choice and result code"
            ),
            time_to_decision=meter.create_histogram(
                "approval.time_to_decision", unit="s", description="request stored to final"
            ),
            webhooks=meter.create_counter(
                "approval.webhook.attempts", unit="{attempt}", description="by result"
            ),
        )
