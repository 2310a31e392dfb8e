"""Run and step metrics through OpenTelemetry (latency histograms, outcome counters)."""

from __future__ import annotations

from opentelemetry.metrics import Meter

from .state import RunState, StepState

__all__ = ["RunMetrics"]


class RunMetrics:
    """Instruments the runner records into when a run or step ends."""

    def __init__(self, meter: Meter) -> None:
        self._runs = meter.create_counter("planner.runs", unit="{run}", description="runs ended")
        self._run_latency = meter.create_histogram(
            "planner.run.duration", unit="ms", description="run start to end"
        )
        self._step_latency = meter.create_histogram(
            "planner.step.duration", unit="ms", description="first attempt to final outcome"
        )

    def run_ended(self, state: RunState) -> None:
        """Count a finished run and its duration, by tenant, workflow and status."""
        if state.evaluation is not None:
            return  # an evaluation run is not production work (the evaluation service counts it)
        attributes = {
            "tenant": state.tenant_id,
            "workflow": state.workflow.name,
            "status": state.status.value,
        }
        self._runs.add(1, attributes)
        if state.started_at and state.finished_at:
            ms = (state.finished_at - state.started_at).total_seconds() * 1000
            self._run_latency.record(ms, attributes)
        for key, step in state.steps.items():
            self._step(state, key, step)

    def _step(self, state: RunState, key: str, step: StepState) -> None:
        if step.started_at and step.finished_at:
            ms = (step.finished_at - step.started_at).total_seconds() * 1000
            step_id = key.partition("/")[0]  # map items count under their map step
            self._step_latency.record(
                ms,
                {"workflow": state.workflow.name, "step": step_id, "status": step.status.value},
            )
