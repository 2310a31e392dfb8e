"""Composition root: the bus (scoring, usage, AgentOps, alert webhooks) and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from agentbus.bus import Bus
from agentbus.bus.background import BackgroundLoop
from agentbus.http import service_http_app
from agentbus.storage import UnitOfWork
from agentbus.telemetry import Telemetry, configure_logging, setup_telemetry
from contracts.envelope import Envelope
from contracts.topics import topic

from . import __version__
from .agentops import AgentOps
from .api import evaluation_router
from .budget import BudgetAlerts
from .dead_letters import DeadLetterReader
from .evaluations import Evaluations, Topics, may_be_evaluation_task
from .gate import Gate
from .handlers import ScoreFinishedTask, record_usage
from .judge import RouterJudge
from .scorers import Judge
from .settings import EvaluationSettings
from .shadow import RecordedRuns
from .shadow_api import shadow_router
from .webhooks import AlertWebhooks

__all__ = ["MIGRATIONS", "EvaluationService", "create_app", "main"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations" / "versions"


@dataclass
class EvaluationService:
    """Everything one evaluation process runs; `http` is the ASGI app whose lifespan runs it."""

    settings: EvaluationSettings
    bus: Bus
    http: FastAPI
    evaluations: Evaluations
    gate: Gate

    dead_letters: DeadLetterReader
    alert_checks: BackgroundLoop

    async def start(self) -> None:
        """Migrate, connect, consume; then read the DLQ topics (their rows need the tables)."""
        await self.bus.start()
        await self.dead_letters.start()
        self.alert_checks.start()

    async def stop(self) -> None:
        """Stop alert checks and reading DLQs, then the bus (offsets committed, relay drained)."""
        await self.alert_checks.stop()
        await self.dead_letters.stop()
        await self.bus.stop()


def _types(name: str) -> tuple[str, ...]:
    return topic(name).event_types


def create_app(
    settings: EvaluationSettings, *, telemetry: Telemetry | None = None
) -> EvaluationService:
    """Build the evaluation service from settings; nothing connects until it starts."""
    telemetry = telemetry or setup_telemetry("evaluation", settings.telemetry, set_global=False)
    bus = Bus(settings.bus, service="evaluation", telemetry=telemetry, migrations=[MIGRATIONS])
    topics = Topics(settings.topic_prefix)
    evaluations = Evaluations(topics)
    gate = Gate(topics)

    def judge_for(tenant_id: str) -> Judge:
        return RouterJudge(settings.judge, tenant_id)

    scorer = ScoreFinishedTask(evaluations, judge_for)
    for name in ("tasks.completed", "tasks.failed"):
        bus.io_consumer(topics(name), scorer, event_types=_types(name), when=may_be_evaluation_task)
    budgets = BudgetAlerts(topics, settings.alerts)

    async def on_usage(envelope: Envelope[Any], uow: UnitOfWork) -> None:
        await record_usage(envelope, uow)
        await budgets.on_usage(envelope, uow)

    bus.consumer(topics("usage.records"), event_types=_types("usage.records"))(on_usage)
    meter = telemetry.meter_provider.get_meter("evaluation")
    ops = AgentOps(topics, settings.alerts, meter)
    dead_letters = DeadLetterReader(
        settings.bus,
        settings.dead_letters,
        topics,
        bus.uow,
        bus.relay.publish_committed,
        ops.on_dead_letters,
        meter,
    )
    # Only a run's start and end count: step events are accepted and skipped unhandled
    # (about ten per run, which would otherwise each cost a transaction here).
    run_types = [t for t in _types("runs.events") if ".run.step_" not in t]
    bus.consumer(topics("runs.events"), event_types=run_types)(ops.on_run_event)
    bus.ignore(
        topics("runs.events"),
        event_types=[t for t in _types("runs.events") if t not in run_types],
    )
    webhooks = AlertWebhooks(settings.webhooks, settings.webhook_timeout_s)
    bus.io_consumer(
        topics("evaluations.events"), webhooks, event_types=_types("evaluations.events")
    )

    http = service_http_app(
        title="agentbus evaluation",
        version=__version__,
        settings=settings.http,
        bus=bus,
        # Late-bound: the service object is built with this app, just below.
        start=lambda: service.start(),
        stop=lambda: service.stop(),
    )
    http.include_router(
        evaluation_router(
            bus.uow,
            evaluations,
            gate,
            bus.relay.publish_committed,
            admin_role=settings.admin_role,
            list_limit=settings.list_limit,
        )
    )
    http.include_router(
        shadow_router(
            bus.uow,
            evaluations,
            RecordedRuns(settings.recorded_runs),
            bus.relay.publish_committed,
            max_runs=settings.recorded_runs.max_runs,
        )
    )
    alert_checks = BackgroundLoop(
        "evaluation-alert-rules", lambda: ops.check_due(bus.uow), settings.alerts_interval_s
    )
    service = EvaluationService(settings, bus, http, evaluations, gate, dead_letters, alert_checks)
    return service


def main() -> None:
    """Console script `evaluation`: serve (default), run evaluations, compare, AgentOps."""
    from .cli import app as cli

    cli()


def serve(settings: EvaluationSettings) -> None:
    """Run the service until SIGTERM."""
    from agentbus.http import run_service

    configure_logging("evaluation", settings.log_level)
    run_service(create_app(settings).http, settings.http)
