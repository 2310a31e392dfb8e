"""A service's consume loop: one consumer for all its topics, records to their processors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError

from .offsets import SettledOffsets
from .poison import UnreadableRecords
from .processor import Processor
from .records import InboundRecord
from .scheduler import Job, KeyedScheduler
from .settings import BusSettings

__all__ = ["ConsumerLoop"]

log = logging.getLogger("agentbus.bus.consumer")

T = TypeVar("T")
ConsumerFactory = Callable[[ConsumerRebalanceListener], Any]


class ConsumerLoop(ConsumerRebalanceListener):  # type: ignore[misc]
    """Consumes a service's topics with one consumer (one group member, one rebalance),
    each topic in one of two modes:

    - keyed (a topic with an I/O handler): records of different keys run concurrently,
      records of one key in order, at most `max_in_flight` at once; when full, those
      partitions are paused (records fetched beyond capacity are given back) and polling
      goes on, so the group keeps its member.
    - batched (short handlers only): each poll's records settle in one transaction per
      topic and tenant, while the loop polls with every partition paused.

    Either way a partition's committed offset is its lowest unsettled record.
    """

    def __init__(
        self,
        processors: Mapping[str, Processor],
        settings: BusSettings,
        consumer_factory: ConsumerFactory,
    ) -> None:
        self.processors = dict(processors)
        self.settings = settings
        self.consumer = consumer_factory(self)
        self.offsets = SettledOffsets()
        self.scheduler = KeyedScheduler(settings.max_in_flight)
        self.unreadable = UnreadableRecords(lambda topic: self.processors[topic].dead_letters)
        self._since_commit = 0
        self._commit_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._committer: asyncio.Task[None] | None = None
        self._revoked: set[TopicPartition] = set()
        self.revocations = 0

    async def start(self) -> None:
        """Join the group and start consuming in the background."""
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name="agentbus-consume")
        self._committer = asyncio.create_task(self._commit_periodically(), name="agentbus-commit")

    async def stop(self) -> None:
        """Stop fetching, cancel unfinished work, commit what is settled, leave the group."""
        for task in (self._task, self._committer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.scheduler.close()
        for processor in self.processors.values():
            await processor.group.close()
        await self.commit()
        await self.consumer.stop()

    def assignment(self) -> set[TopicPartition]:
        """Partitions this loop owns now."""
        return set(self.consumer.assignment())

    def lag(self) -> dict[TopicPartition, int]:
        """Records between the committable position and the high watermark, per partition."""
        out: dict[TopicPartition, int] = {}
        for tp in self.assignment():
            highwater = self.consumer.highwater(tp)
            tracker = self.offsets.partitions.get(tp)
            position = tracker.committable() if tracker else self.offsets.committed.get(tp)
            if highwater is not None and position is not None:
                out[tp] = max(0, highwater - position)
        return out

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commit every partition's lowest unsettled offset that moved since last time."""
        async with self._commit_lock:
            positions = self.offsets.to_commit(only)
            positions = {tp: o for tp, o in positions.items() if tp in self.assignment()}
            self._since_commit = 0
            if not positions:
                return
            try:
                await self.consumer.commit(positions)
            except KafkaError as exc:
                # A rebalance raced us: the new owner re-reads these and the inbox skips them.
                log.warning("offset commit failed; records will be redelivered: %s", exc)
                return
            self.offsets.mark_committed(positions)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Hand over: drop queued records, let running ones finish (bounded), then commit."""
        gone = set(revoked)
        self.revocations += bool(gone)
        self._revoked |= gone
        self.scheduler.withdraw(lambda job: job.tag in gone)
        finished = await self.scheduler.wait_idle(
            lambda job: job.tag in gone, self.settings.revoke_drain_s
        )
        if not finished:
            log.warning("records still in flight at hand-over; the next owner repeats them")
        await self.commit(gone)
        self.offsets.forget(gone)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Positions come from committed offsets; forget stale state of these partitions."""
        self._revoked -= set(assigned)
        self.offsets.forget(set(assigned))

    async def _run(self) -> None:
        while True:
            try:
                await self._poll()
            except ConsumerStoppedError:
                return
            if self._since_commit >= self.settings.commit_every:
                await self.commit()

    async def _poll(self) -> None:
        assigned = self.assignment()
        keyed = {tp for tp in assigned if not self.processors[tp.topic].batchable}
        full = self.scheduler.free == 0
        if keyed:
            if full:
                self.consumer.pause(*keyed)
            else:
                self.consumer.resume(*(keyed & set(self.consumer.paused())))
        if full and keyed == assigned:
            # Back-pressure: fetch nothing more, but keep polling so the group keeps us.
            await self.scheduler.wait_for_capacity(self._keepalive_s)
            if self.scheduler.free == 0:
                await self._poll_paused()
            return
        limit = self.settings.max_poll_records
        if keyed == assigned:
            # Only keyed work: ask for no more than there is room for. aiokafka keeps the
            # rest of what it fetched, so nothing is given back and converted again.
            limit = max(1, min(limit, self.scheduler.free))
        batch = await self._fetch(limit)
        short: list[InboundRecord] = []
        for tp, records in batch.items():
            if tp in keyed:
                self._admit_or_give_back(tp, records)
            else:
                short += records
        if short:
            for record in short:
                self.offsets.of(_tp(record)).started(record.offset)
            await self._while_polling(self._settle_batch(short))
            for record in short:
                self._settled(record)

    async def _while_polling(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` while polling paused partitions, so the group keeps this member."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._keepalive_s)
                if done:
                    return task.result()
                await self._poll_paused()
        finally:
            if not task.done():
                task.cancel()
            self.consumer.resume(*self.consumer.paused())

    @property
    def _keepalive_s(self) -> float:
        """How long work or back-pressure may go without a poll with every partition paused.

        A member that does not poll for `max_poll_interval_ms` leaves its group, so such polls
        must come; but aiokafka drops what it had prefetched for a partition polled while
        paused, to fetch it again after resuming. Polling every `poll_timeout_ms` (100 ms) cost
        the audit ingest a third of its throughput; a tenth of the interval costs nothing.
        """
        settings = self.settings
        return max(settings.poll_timeout_ms, settings.max_poll_interval_ms // 10) / 1000

    async def _poll_paused(self) -> None:
        """Poll with every partition paused: keeps the membership, fetches nothing."""
        self.consumer.pause(*self.assignment())
        batch = await self._fetch(1, timeout_ms=0)
        # A partition assigned during the poll is not paused yet: give its records back.
        for tp, records in batch.items():
            self.consumer.seek(tp, records[0].offset)

    async def _settle_batch(self, records: list[InboundRecord]) -> None:
        by_topic: dict[str, list[InboundRecord]] = {}
        for record in records:
            by_topic.setdefault(record.topic, []).append(record)
        for topic, same in by_topic.items():
            while True:
                try:
                    await self.processors[topic].process_batch(same)
                    break
                except Exception:
                    # A dead letter could not be written: nothing is committed; try again.
                    log.exception("records not settled; trying again")
                    await asyncio.sleep(self.settings.redelivery_pause_s)

    def _admit_or_give_back(self, tp: TopicPartition, records: list[InboundRecord]) -> None:
        for record in records:
            if self.scheduler.free == 0:
                # Over capacity: the partition reads this record again once there is room.
                self.consumer.seek(tp, record.offset)
                return
            self._admit(record)

    def _admit(self, record: InboundRecord) -> None:
        tp = _tp(record)
        self.offsets.of(tp).started(record.offset)

        async def run() -> None:
            await self._settle_one(record)
            self._settled(record)

        # Records without a key keep partition order; keyed ones only their key's order.
        key = (tp, record.key) if record.key is not None else (tp, None)
        self.scheduler.submit(key, Job(run, tag=tp))

    async def _settle_one(self, record: InboundRecord) -> None:
        while True:
            try:
                await self.processors[record.topic].process(record)
                return
            except Exception:
                # The record's place in its key's queue is kept, so order holds.
                log.exception("record not settled; trying again")
                await asyncio.sleep(self.settings.redelivery_pause_s)

    def _settled(self, record: InboundRecord) -> None:
        tp = _tp(record)
        if tp in self._revoked:
            return
        self.offsets.of(tp).settled(record.offset)
        self._since_commit += 1

    async def _fetch(
        self, max_records: int, *, timeout_ms: int | None = None
    ) -> dict[TopicPartition, list[InboundRecord]]:
        timeout = self.settings.poll_timeout_ms if timeout_ms is None else timeout_ms
        try:
            batch = await self.consumer.getmany(timeout_ms=timeout, max_records=max_records)
        except ConsumerStoppedError:
            raise
        except KafkaError as exc:
            log.warning("fetch failed; retrying: %s", exc)
            await asyncio.sleep(self.settings.redelivery_pause_s)
            return {}
        except Exception as exc:
            # aiokafka could not parse a record (e.g. a header name that is not UTF-8).
            return await self.unreadable.recover(self.consumer, exc, self._positions())
        self.unreadable.clear()
        return {
            tp: [InboundRecord.from_consumer_record(r) for r in records]
            for tp, records in batch.items()
            if tp not in self._revoked
        }

    def _positions(self) -> dict[TopicPartition, int | None]:
        """Where each assigned partition should resume: one past the last record handed out."""
        out: dict[TopicPartition, int | None] = {}
        for tp in self.assignment():
            tracker = self.offsets.partitions.get(tp)
            out[tp] = tracker.next_position if tracker else None
        return out

    async def _commit_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.commit_interval_s)
            try:
                await self.commit()
            except Exception:
                log.warning("periodic commit failed", exc_info=True)


def _tp(record: InboundRecord) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)
