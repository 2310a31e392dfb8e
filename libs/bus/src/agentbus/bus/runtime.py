"""Bus: one service's consumers, outbox relay, timers and database, built from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from agentbus.storage import create_engine, prune
from agentbus.storage.migrations import upgrade
from agentbus.telemetry import Telemetry
from contracts.envelope import Envelope

from .background import BackgroundLoop
from .consumer import ConsumerLoop
from .failures import DeadLetterer
from .io import IoHandler
from .messages import encode_envelope, unit_factory
from .outcomes import Wanted
from .processor import Handler, Processor, Route
from .records import OutboundRecord
from .relay import OutboxRelay
from .retention import InboxRetention, check_inbox_retention
from .routes import Routes
from .security import client_options, kafka_security
from .settings import BusSettings
from .sink import ProducerSink
from .timers import TimerPoller

__all__ = ["Bus"]

log = logging.getLogger("agentbus.bus")


class Bus:
    """One service's connection to Kafka and its database; nothing connects until started."""

    def __init__(
        self,
        settings: BusSettings,
        *,
        service: str,
        telemetry: Telemetry | None = None,
        migrations: Sequence[Path] = (),
    ) -> None:
        self.settings = settings
        self.service = service
        # The service's Alembic version directories, upgraded with the bus's at start.
        self.migrations = tuple(migrations)
        middlewares = []
        if telemetry is not None:
            middlewares.append(
                KafkaTelemetryMiddleware(
                    tracer_provider=telemetry.tracer_provider,
                    meter_provider=telemetry.meter_provider,
                )
            )
        # The FastStream broker publishes (acks=all, idempotent) and hosts the app; the
        # consume loops are the bus's own (see ConsumerLoop for why).
        self.broker = KafkaBroker(
            settings.bootstrap_servers,
            client_id=settings.client_id,
            acks="all",
            enable_idempotence=True,
            security=kafka_security(settings.security),
            middlewares=middlewares,
            # Per-record "Received/Processed" lines are debug noise at production volume.
            log_level=logging.DEBUG,
            logger=logging.getLogger(f"agentbus.{service}.faststream"),
        )
        self.engine = create_engine(settings.database_url)
        self.uow = unit_factory(self.engine)
        self.tracer = (telemetry.tracer_provider if telemetry else trace).get_tracer("agentbus.bus")
        # Its own producer: records go out exactly as given (dead letters keep their headers).
        self.sink = ProducerSink(settings, tracer=self.tracer)
        self.relay = OutboxRelay(
            self.uow,
            self.sink,
            interval_s=settings.outbox_relay_interval_s,
            grace_s=settings.outbox_relay_grace_s,
            batch_size=settings.outbox_batch_size,
        )
        self.timers = TimerPoller(
            self.uow,
            self.relay,
            interval_s=settings.timer_poll_interval_s,
            batch_size=settings.timer_batch_size,
        )
        self.pruner = BackgroundLoop("agentbus-bookkeeping-prune", self.prune, 3600)
        self.routes = Routes()
        self.inbox_retention = InboxRetention(
            timedelta(days=settings.bookkeeping_retention_days), frozenset()
        )
        self.loops: list[ConsumerLoop] = []
        provider = telemetry.meter_provider if telemetry else metrics.get_meter_provider()
        # One scope per bus: two buses in one process must not share (and drop) a gauge.
        self.meter = provider.get_meter(f"agentbus.bus.{service}")
        self.meter.create_observable_gauge(
            "agentbus.bus.consumer_lag",
            callbacks=[self._observe_lag],
            unit="{record}",
            description="records between the lowest unsettled offset and the high watermark",
        )

    def consumer(
        self,
        topic: str,
        *,
        event_types: Iterable[str] | None = None,
        reply_topic: str | None = None,
        when: Wanted | None = None,
        replies: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Register a short `handler(envelope, uow)`: one transaction, no network I/O.

        `event_types` default to the catalogue's for `topic`; a topic outside the
        catalogue must name them. `reply_topic` (default: the catalogue's) receives a
        failed reply when a request is dead-lettered; `replies=False` when the service
        only watches a request topic that another service answers (no failed reply from
        it). `when(envelope)`, if given, picks the events the handler needs by their
        content; the others are settled as skipped with no transaction and no inbox
        entry (they change nothing).
        """

        def register(handler: Handler) -> Handler:
            route = Route("", short=handler, when=when)
            self.routes.add(topic, event_types, route, reply_topic=reply_topic, replies=replies)
            return handler

        return register

    def ignore(self, topic: str, *, event_types: Iterable[str]) -> None:
        """Accept `event_types` on `topic` without handling them.

        A consumer that needs only some of a topic's types (run start and end among the
        run lifecycle, say) settles the others as skipped: no transaction, no inbox row,
        no span, no decoding beyond the type header. Without this they would be
        dead-lettered as unexpected.
        """
        self.routes.add(topic, event_types, Route(""))

    def io_consumer(
        self,
        topic: str,
        handler: IoHandler[Any, Any],
        *,
        event_types: Iterable[str] | None = None,
        reply_topic: str | None = None,
        when: Wanted | None = None,
    ) -> None:
        """Register an I/O handler (prepare, perform with no transaction open, record).

        `when(envelope)` as for `consumer`: an event it declines never opens a
        transaction (cheaper than a `prepare` that returns SETTLED, which must look it
        up and claim it).
        """
        route = Route("", io=handler, when=when)
        self.routes.add(topic, event_types, route, reply_topic=reply_topic)

    async def publish(self, envelope: Envelope[Any], *, topic: str | None = None) -> None:
        """Publish directly (no outbox): for upstream producers and tools, not handlers.

        Like the outbox, an envelope without a trace gets the current one (an HTTP
        request's span, say), so its consumers join the caller's trace.
        """
        record = encode_envelope(envelope, topic)
        await self.sink.send(
            [OutboundRecord(record.topic, record.key, record.value, record.headers)]
        )

    async def start(self) -> None:
        """Migrate the database, connect, start consuming and the outbox relay."""
        await self._before_broker_start()
        await self.broker.start()
        await self._after_broker_start()

    async def stop(self) -> None:
        """Settle and commit what can be, stop the relay, disconnect."""
        await self._before_broker_stop()
        await self.broker.stop()
        await self.engine.dispose()

    def _observe_lag(self, _options: CallbackOptions) -> Iterable[Observation]:
        group = self.settings.consumer_group
        for loop in self.loops:
            for tp, lag in loop.lag().items():
                attributes = {"topic": tp.topic, "partition": tp.partition, "group": group}
                yield Observation(lag, attributes)

    async def prune(self) -> None:
        """Delete bookkeeping no redelivery can need: inbox rows past the topics' retention."""
        plan = self.inbox_retention
        cutoff = datetime.now(UTC) - plan.prune_after
        async with self.uow.sessions() as session:
            pruned = await prune(session, handled_before=cutoff, keep_topics=plan.keep_forever)
        if any(pruned):
            log.info("pruned bookkeeping", extra={"fields": pruned._asdict()})

    async def wait_until_assigned(self, timeout_s: float = 30.0) -> None:
        """Return once every consumer holds partitions (readiness); TimeoutError otherwise."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not (self.loops and all(loop.assignment() for loop in self.loops)):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no partitions assigned within {timeout_s}s")
            await asyncio.sleep(0.1)

    def create_app(self) -> FastStream:
        """The FastStream application whose lifespan is this bus."""
        app = FastStream(self.broker, logger=logging.getLogger(f"agentbus.{self.service}"))
        app.on_startup(self._before_broker_start)
        app.after_startup(self._after_broker_start)
        app.on_shutdown(self._before_broker_stop)
        app.after_shutdown(self.engine.dispose)
        return app

    def _processor_for(self, topic: str) -> Processor:
        settings = self.settings
        return Processor(
            topic=topic,
            consumer_group=settings.consumer_group,
            routes=self.routes.of(topic),
            uow_factory=self.uow,
            relay=self.relay,
            dead_letters=DeadLetterer(
                self.sink,
                consumer_group=settings.consumer_group,
                service=self.service,
                reply_topic=self.routes.reply_topic(topic),
            ),
            retry=settings.retry,
            handler_timeout_s=settings.handler_timeout_s,
            meter=self.meter,
            tracer=self.tracer,
        )

    def _loop(self) -> ConsumerLoop:
        """One consumer for every topic: one group member, so one rebalance when it joins."""
        settings, topics = self.settings, self.routes.topics()

        def new_consumer(listener: ConsumerRebalanceListener) -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(
                client_id=settings.client_id,
                group_id=settings.consumer_group,
                # Offsets are committed by the loop, only up to the lowest unsettled record.
                enable_auto_commit=False,
                auto_offset_reset=settings.auto_offset_reset,
                max_poll_interval_ms=settings.max_poll_interval_ms,
                session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=settings.heartbeat_interval_ms,
                **client_options(settings),
            )
            consumer.subscribe(topics, listener=listener)
            return consumer

        processors = {topic: self._processor_for(topic) for topic in topics}
        return ConsumerLoop(processors, settings, new_consumer)

    async def _before_broker_start(self) -> None:
        await upgrade(self.engine, self.migrations)
        if self.routes.topics():
            # Refuses to start when inbox rows would be pruned before Kafka forgets the records.
            self.inbox_retention = await check_inbox_retention(self.settings, self.routes.topics())

    async def _after_broker_start(self) -> None:
        # An async hook: FastStream runs sync hooks in a thread, where there is no loop.
        await self.sink.start()
        self.relay.start()
        self.timers.start()
        self.pruner.start()
        self.loops = [self._loop()] if self.routes.topics() else []
        for loop in self.loops:
            await loop.start()

    async def _before_broker_stop(self) -> None:
        for loop in self.loops:
            await loop.stop()
        self.loops = []
        await self.pruner.stop()
        await self.timers.stop()  # before the relay, which then sends what they fired
        await self.relay.stop()
        await self.sink.stop()
