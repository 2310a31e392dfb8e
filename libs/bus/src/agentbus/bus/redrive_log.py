"""What was redriven from a DLQ: the redrive group's positions and their commit metadata.

A full redrive commits the group's position past what it sent. A record redriven alone
beyond that position is listed in the partition's commit metadata (`redriven:<o>,...`),
so the next full redrive skips it (docs/adr/0010).
"""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from .settings import BusSettings
from .toolclients import DlqToolError, bounded, new_admin, new_consumer, started

__all__ = ["REDRIVE_GROUP_PREFIX", "commit_positions", "redrive_group", "redriven", "remember"]

REDRIVE_GROUP_PREFIX = "agentbus-dlq-redrive"
_REDRIVEN_MARK = "redriven:"
_MAX_METADATA = 3500  # below the broker's offset.metadata.max.bytes default (4096)


def redrive_group(topic: str) -> str:
    """The consumer group whose committed offsets remember what was redriven from `topic`."""
    return f"{REDRIVE_GROUP_PREFIX}.{topic}"


async def redriven(
    settings: BusSettings, topic: str, group: str
) -> tuple[dict[int, set[int]], dict[int, int]]:
    """Per partition: offsets redriven one by one beyond the position, and the position."""
    admin = new_admin(settings)
    await bounded(settings, "connecting", admin.start())
    try:
        committed = await bounded(
            settings, "reading redrive positions", admin.list_consumer_group_offsets(group)
        )
    finally:
        await admin.close()
    done: dict[int, set[int]] = {}
    positions: dict[int, int] = {}
    for tp, meta in committed.items():
        if tp.topic != topic or meta.offset < 0:
            continue
        positions[tp.partition] = meta.offset
        done[tp.partition] = _parse_mark(meta.metadata)
    return done, positions


async def remember(settings: BusSettings, topic: str, group: str, only: tuple[int, int]) -> None:
    """Note a record redriven alone, unless a full redrive already passed it."""
    partition, offset = only
    done, positions = await redriven(settings, topic, group)
    position = positions.get(partition)
    if position is not None and offset < position:
        return  # a full redrive already passed it: nothing to remember
    consumer = new_consumer(settings)
    await started(settings, consumer)
    try:
        tp = TopicPartition(topic, partition)
        if position is None:
            starts = await bounded(settings, "reading offsets", consumer.beginning_offsets([tp]))
            position = starts[tp]
    finally:
        await consumer.stop()
    offsets = done.get(partition, set()) | {offset}
    await commit_positions(
        settings, group, {TopicPartition(topic, partition): position}, {partition: offsets}
    )


async def commit_positions(
    settings: BusSettings,
    group: str,
    positions: dict[TopicPartition, int],
    done: dict[int, set[int]],
) -> None:
    """Commit the group's positions with the single redrives still ahead of them."""
    offsets = {}
    for tp, position in positions.items():
        pending = sorted(o for o in done.get(tp.partition, set()) if o >= position)
        mark = _REDRIVEN_MARK + ",".join(map(str, pending)) if pending else ""
        if len(mark) > _MAX_METADATA:
            raise DlqToolError(
                f"too many records of {tp.topic} partition {tp.partition} redriven one by one; "
                "redrive the whole topic first"
            )
        offsets[tp] = OffsetAndMetadata(position, mark)
    consumer = new_consumer(settings, group=group)
    await started(settings, consumer)
    try:
        consumer.assign(list(offsets))
        await bounded(settings, "committing the redrive position", consumer.commit(offsets))
    finally:
        await consumer.stop()


def _parse_mark(metadata: str | None) -> set[int]:
    if not metadata or not metadata.startswith(_REDRIVEN_MARK):
        return set()
    body = metadata.removeprefix(_REDRIVEN_MARK)
    return {int(o) for o in body.split(",") if o.strip().isdigit()}
