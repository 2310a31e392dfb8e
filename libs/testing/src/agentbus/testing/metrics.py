"""Reading what an in-memory metric reader holds, for assertions on counters."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

__all__ = ["values_by"]


def values_by(reader: InMemoryMetricReader, metric: str, attribute: str) -> dict[str, Any]:
    """The current value of each counter or gauge point of `metric`, keyed by an attribute."""
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {
        str(point.attributes[attribute]): point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for found in scope.metrics
        if found.name == metric
        for point in found.data.data_points
        if isinstance(point, NumberDataPoint) and point.attributes and attribute in point.attributes
    }
