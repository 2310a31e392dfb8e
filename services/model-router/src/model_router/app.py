"""The composition root: settings in, one process serving Kafka and HTTP out."""

from __future__ import annotations

from fastapi import FastAPI

from agentbus.bus import Bus
from agentbus.bus.background import BackgroundLoop
from agentbus.http import service_http_app
from agentbus.telemetry import Telemetry, setup_telemetry

from .api import api_router
from .breaker import BreakerBoard
from .config import RoutingConfig, default_config, load_config
from .consumers import register_consumers
from .genai import GenAiTelemetry
from .migrations import VERSIONS
from .pricing import load_price_table
from .providers import Provider, build_providers
from .router import RetrySettings, Router
from .service import CallSettings, RouterService
from .settings import ModelRouterSettings

__all__ = ["SERVICE", "build_router", "create_app", "provider_secrets", "routing_config"]

SERVICE = "model-router"


def routing_config(settings: ModelRouterSettings) -> RoutingConfig:
    """The configured routing file, or the packaged local-only default."""
    if settings.routing_config is not None:
        return load_config(settings.routing_config)
    return default_config()


def provider_secrets(settings: ModelRouterSettings) -> dict[str, str]:
    """API keys by name: files in `secrets_dir`, overridden by `secrets`."""
    found: dict[str, str] = {}
    if settings.secrets_dir is not None:
        for path in sorted(settings.secrets_dir.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                found[path.name] = path.read_text().strip()
    found.update({name: secret.get_secret_value() for name, secret in settings.secrets.items()})
    return found


def build_router(
    settings: ModelRouterSettings, config: RoutingConfig, telemetry: GenAiTelemetry
) -> Router:
    """The routing core with its provider adapters (one pooled client per provider)."""
    reliability = settings.reliability
    providers: dict[str, Provider] = build_providers(
        provider_secrets(settings),
        connect_timeout_s=reliability.connect_timeout_s,
        read_timeout_s=reliability.read_timeout_s,
        max_connections=reliability.max_connections,
        default_max_tokens=settings.default_max_tokens,
        transport=reliability.transport,
    )
    router = Router(
        config=config,
        providers=providers,
        prices=load_price_table(),
        retry=RetrySettings(
            max_attempts=reliability.max_attempts,
            initial_backoff_s=reliability.initial_backoff_s,
            max_backoff_s=reliability.max_backoff_s,
            jitter_s=reliability.jitter_s,
            max_retry_after_s=reliability.max_retry_after_s,
        ),
        breakers=BreakerBoard(
            reliability.breaker_failure_threshold, reliability.breaker_cooldown_s
        ),
        on_retry=telemetry.retried,
    )
    telemetry.watch_breakers(lambda: router.breakers.states(router.clock()))
    return router


def create_app(settings: ModelRouterSettings | None = None) -> FastAPI:
    """The one process: Kafka consumer (I/O handler) and OpenAI-compatible HTTP API."""
    settings = settings or ModelRouterSettings()
    telemetry: Telemetry = setup_telemetry(SERVICE, settings.telemetry)
    genai = GenAiTelemetry(telemetry.tracer_provider, telemetry.meter_provider)
    config = routing_config(settings)
    router = build_router(settings, config, genai)
    service = RouterService(
        router,
        CallSettings(
            default_max_tokens=settings.default_max_tokens,
            cache_ttl_s=settings.cache_ttl_s,
            cache_only_deterministic=settings.cache_only_deterministic,
        ),
        genai,
        source=SERVICE,
    )
    bus = Bus(settings.bus, service=SERVICE, telemetry=telemetry, migrations=[VERSIONS])
    if settings.consume:
        register_consumers(
            bus, service, request_topic=settings.request_topic, reply_topic=settings.reply_topic
        )

    async def sweep() -> None:
        await service.release_stale_http_holds(bus.uow, settings.stale_hold_after_s)

    sweeper = BackgroundLoop("model-router-stale-holds", sweep, settings.stale_hold_after_s / 3)

    async def start() -> None:
        await bus.start()  # upgrades the bus's and the router's tables first
        sweeper.start()

    async def stop() -> None:
        await sweeper.stop()
        await bus.stop()
        for provider in router.providers.values():
            await provider.aclose()
        telemetry.shutdown()

    app = service_http_app(
        title="agentbus model-router",
        version="1",
        settings=settings.http,
        bus=bus,
        start=start,
        stop=stop,
        telemetry=telemetry,
    )
    app.include_router(api_router(service, bus.uow))
    app.state.bus = bus
    app.state.service = service
    return app
