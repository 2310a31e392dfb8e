"""Inbox retention against topic retention: a redelivered event must still find its inbox row.

Kafka can hand a consumer group any record still in a topic (a reset, a lost commit, a
new replica reading from an old position). The inbox skips those it has handled, but
only while its row exists, so inbox rows must live at least as long as the longest
retention of the topics the group reads. Rows of topics kept forever are never pruned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from contracts.topics import topic as catalogue_topic

from .security import client_options
from .settings import BusSettings

__all__ = [
    "BookkeepingRetentionError",
    "InboxRetention",
    "broker_retention_ms",
    "check_inbox_retention",
    "inbox_retention",
]

log = logging.getLogger("agentbus.bus.retention")
_DAY_MS = 24 * 3600 * 1000
_FOREVER = -1


class BookkeepingRetentionError(ValueError):
    """bookkeeping_retention_days is shorter than a subscribed topic keeps its records."""


@dataclass(frozen=True)
class InboxRetention:
    """How long inbox rows must be kept for the topics one consumer group reads."""

    prune_after: timedelta
    """Age after which inbox rows of the other topics may be deleted."""
    keep_forever: frozenset[str]
    """Topics with infinite retention: their inbox rows are never deleted."""


def inbox_retention(settings: BusSettings, retention_ms: Mapping[str, int]) -> InboxRetention:
    """The plan for topics with these `retention.ms` values; raises when pruning is too early.

    Refuses the first topic (by retention, longest first) that keeps its records longer
    than `bookkeeping_retention_days`, naming the smallest setting that would do.
    """
    keep_days = settings.bookkeeping_retention_days
    forever = frozenset(name for name, ms in retention_ms.items() if ms == _FOREVER)
    finite = sorted(
        ((ms, name) for name, ms in retention_ms.items() if ms != _FOREVER), reverse=True
    )
    if finite and finite[0][0] > keep_days * _DAY_MS:
        ms, name = finite[0]
        needed = -(-ms // _DAY_MS)  # whole days, rounded up
        raise BookkeepingRetentionError(
            f"bookkeeping_retention_days={keep_days:g} is shorter than the retention of "
            f"{name} ({ms / _DAY_MS:g} days): a redelivered record could be applied twice. "
            f"Set bookkeeping_retention_days to at least {needed} "
            "(env <SERVICE>_BUS__BOOKKEEPING_RETENTION_DAYS); docs/adr/0010"
        )
    return InboxRetention(timedelta(days=keep_days), forever)


async def broker_retention_ms(settings: BusSettings, topics: Iterable[str]) -> dict[str, int]:
    """Each topic's `retention.ms` as the cluster has it; the catalogue's where it can't tell.

    Topics that neither the cluster nor the catalogue knows are left out (nothing to check).
    """
    names = sorted(set(topics))
    try:
        found = await asyncio.wait_for(
            _described_retention(settings, names), timeout=settings.metadata_timeout_s
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        log.warning(
            "topic retention not readable from the cluster; checking the catalogue's",
            extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}},
        )
        found = {}
    for name in names:
        if name not in found:
            try:
                found[name] = catalogue_topic(name).retention_ms
            except KeyError:
                continue
    return found


async def _described_retention(settings: BusSettings, names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    admin = AIOKafkaAdminClient(
        client_id=f"{settings.client_id}-retention", **client_options(settings)
    )
    try:
        await admin.start()
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        for response in responses:
            for error_code, _msg, _type, name, entries, *_ in response.resources:
                for entry in entries if error_code == 0 else ():
                    if entry[0] == "retention.ms" and entry[1] is not None:
                        found[name] = int(entry[1])
    finally:
        await admin.close()
    return found


async def check_inbox_retention(settings: BusSettings, topics: Iterable[str]) -> InboxRetention:
    """At Bus start: refuse a bookkeeping retention shorter than the subscribed topics'."""
    return inbox_retention(settings, await broker_retention_ms(settings, topics))
