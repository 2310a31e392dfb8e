"""Bus: the FastStream broker, app and subscribers of one service, built from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import ConsumerRecord
from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.middlewares import AckPolicy
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from agentbus.storage import UnitOfWorkFactory, create_engine, create_tables, prune
from agentbus.telemetry import Telemetry
from contracts.envelope import Envelope, encode
from contracts.topics import topic_for_event

from .background import BackgroundLoop
from .offsets import OffsetTracker
from .processor import Handler, Processor
from .records import InboundRecord, OutboundRecord
from .relay import OutboxRelay
from .security import kafka_security
from .settings import BusSettings
from .sink import BrokerSink

__all__ = ["Bus"]

log = logging.getLogger("agentbus.bus")


class Bus:
    """One service's connection to Kafka and its database; nothing connects until started."""

    def __init__(
        self, settings: BusSettings, *, service: str, telemetry: Telemetry | None = None
    ) -> None:
        self.settings = settings
        self.service = service
        middlewares = []
        if telemetry is not None:
            middlewares.append(
                KafkaTelemetryMiddleware(
                    tracer_provider=telemetry.tracer_provider,
                    meter_provider=telemetry.meter_provider,
                )
            )
        self.broker = KafkaBroker(
            settings.bootstrap_servers,
            client_id=settings.client_id,
            # Durable publishing: every in-sync replica has the record, no duplicates on retry.
            acks="all",
            enable_idempotence=True,
            security=kafka_security(settings.security),
            middlewares=middlewares,
            # Per-record "Received/Processed" lines are debug noise at production volume.
            log_level=logging.DEBUG,
            logger=logging.getLogger(f"agentbus.{service}.faststream"),
        )
        self.engine = create_engine(settings.database_url)
        self.uow = UnitOfWorkFactory(self.engine)
        self.sink = BrokerSink(self.broker)
        self.relay = OutboxRelay(
            self.uow,
            self.sink,
            interval_s=settings.outbox_relay_interval_s,
            grace_s=settings.outbox_relay_grace_s,
            batch_size=settings.outbox_batch_size,
        )
        self.pruner = BackgroundLoop("agentbus-bookkeeping-prune", self.prune, 3600)
        self.processors: dict[str, Processor] = {}
        self.offset_trackers: list[OffsetTracker] = []
        provider = telemetry.meter_provider if telemetry else metrics.get_meter_provider()
        # One scope per bus: two buses in one process must not share (and drop) a gauge.
        self.meter = provider.get_meter(f"agentbus.bus.{service}")
        self.meter.create_observable_gauge(
            "agentbus.bus.consumer_lag",
            callbacks=[self._observe_lag],
            unit="{record}",
            description="records between the last settled offset and the high watermark",
        )

    def consumer(
        self, topic: str, *, event_types: frozenset[str] | None = None
    ) -> Callable[[Handler], Handler]:
        """Register `handler(envelope, uow)` for `topic` in this service's consumer group."""

        def register(handler: Handler) -> Handler:
            processor = Processor(
                consumer_group=self.settings.consumer_group,
                handler=handler,
                uow_factory=self.uow,
                sink=self.sink,
                relay=self.relay,
                retry=self.settings.retry,
                event_types=event_types,
                handler_timeout_s=self.settings.handler_timeout_s,
                meter=self.meter,
            )
            self.processors[topic] = processor
            offsets = OffsetTracker(
                commit_every=self.settings.commit_every,
                commit_interval_s=self.settings.commit_interval_s,
            )
            self.offset_trackers.append(offsets)
            subscriber = self.broker.subscriber(
                topic,
                group_id=self.settings.consumer_group,
                # Never FastStream's default (auto-commit on receipt, at-most-once): the
                # tracker commits only records the processor has settled.
                ack_policy=AckPolicy.MANUAL,
                auto_offset_reset=self.settings.auto_offset_reset,
                max_poll_interval_ms=self.settings.max_poll_interval_ms,
                listener=offsets,
                parser=_cloudevents_parser,
                decoder=_raw_body,
            )
            pause = self.settings.redelivery_pause_s

            @subscriber
            async def on_record(message: KafkaMessage) -> None:
                raw: ConsumerRecord[Any, Any] = message.raw_message
                record = InboundRecord.from_consumer_record(raw)
                try:
                    await processor.process(record)
                except Exception:
                    # The dead letter itself could not be written: read the record again.
                    log.exception("record not settled; it will be read again")
                    await asyncio.sleep(pause)
                    await message.nack()
                    return
                await offsets.settled(message.consumer, raw.topic, raw.partition, raw.offset)

            return handler

        return register

    async def publish(self, envelope: Envelope[Any], *, topic: str | None = None) -> None:
        """Publish directly (no outbox): for upstream producers and tools, not handlers."""
        record = encode(envelope)
        target = topic or topic_for_event(envelope.type).name
        await self.sink.send(
            [OutboundRecord(target, record.key, record.value, list(record.headers))]
        )

    async def start(self) -> None:
        """Create tables, connect, start consuming and the outbox relay."""
        await self._before_broker_start()
        await self.broker.start()
        await self._after_broker_start()

    async def stop(self) -> None:
        """Commit settled offsets, stop the relay, disconnect."""
        await self._before_broker_stop()
        await self.broker.stop()
        await self.engine.dispose()

    def _observe_lag(self, _options: CallbackOptions) -> Iterable[Observation]:
        group = self.settings.consumer_group
        for tracker in self.offset_trackers:
            for tp, lag in tracker.lag().items():
                attributes = {"topic": tp.topic, "partition": tp.partition, "group": group}
                yield Observation(lag, attributes)

    async def prune(self) -> None:
        """Delete inbox and published outbox rows older than the retention setting."""
        cutoff = datetime.now(UTC) - timedelta(days=self.settings.bookkeeping_retention_days)
        async with self.uow.sessions() as session:
            inbox, outbox = await prune(session, handled_before=cutoff)
        if inbox or outbox:
            log.info("pruned bookkeeping", extra={"fields": {"inbox": inbox, "outbox": outbox}})

    async def wait_until_assigned(self, timeout_s: float = 30.0) -> None:
        """Return once every subscriber holds partitions (readiness); TimeoutError otherwise."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            consumers = [getattr(sub, "consumer", None) for sub in self.broker.subscribers]
            if consumers and all(c is not None and c.assignment() for c in consumers):
                return
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

    async def _before_broker_start(self) -> None:
        await create_tables(self.engine)

    async def _after_broker_start(self) -> None:
        # An async hook: FastStream runs sync hooks in a thread, where there is no loop.
        self.relay.start()
        self.pruner.start()
        for tracker in self.offset_trackers:
            tracker.start()

    async def _before_broker_stop(self) -> None:
        for tracker in self.offset_trackers:
            await tracker.stop()
        await self.pruner.stop()
        await self.relay.stop()


async def _cloudevents_parser(
    record: ConsumerRecord[Any, Any], original: Callable[[Any], Any]
) -> KafkaMessage:
    message: KafkaMessage = await original(record)
    # FastStream's telemetry reads `traceparent`; plain CloudEvents clients send only
    # `ce_traceparent`, so surface it under the name the middleware looks for.
    traceparent = message.headers.get("ce_traceparent")
    if traceparent and "traceparent" not in message.headers:
        message.headers["traceparent"] = traceparent
    return message


async def _raw_body(message: KafkaMessage) -> bytes:
    # The processor parses and validates; FastStream must not reject a non-JSON body first.
    return message.body
