"""What a record can become, and which handler a record goes to."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope

from .io import IoHandler
from .records import InboundRecord

__all__ = ["Handler", "Outcome", "Route", "Wanted", "log_duplicate"]

Handler = Callable[[Envelope[Any], UnitOfWork], Awaitable[None]]
Wanted = Callable[[Envelope[Any]], bool]
"""Whether a handler needs a decoded event; one it declines is settled as skipped."""
log = logging.getLogger("agentbus.bus")


class Outcome(StrEnum):
    """What became of a record; each is final, so its offset may be committed."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Route:
    """The handler of one event type on one topic: short (one transaction) or I/O.

    A route with neither is an event type the consumer accepts and does not need: it is
    settled as skipped, with no transaction and no decoding beyond its type header. A
    route with `when` hands its handler only the events `when` accepts; the others are
    settled as skipped after decoding, with no transaction: they change nothing, so
    they need no inbox entry either.
    """

    event_type: str
    short: Handler | None = None
    io: IoHandler[Any, Any] | None = None
    when: Wanted | None = None

    def declines(self, envelope: Envelope[Any]) -> bool:
        """True for an event this route's handler does not need (by its `when`)."""
        return self.when is not None and not self.when(envelope)

    @property
    def ignored(self) -> bool:
        """True for an accepted event type that needs no handler."""
        return self.short is None and self.io is None


def log_duplicate(record: InboundRecord) -> None:
    log.info(
        "duplicate event skipped",
        extra={"fields": {"partition": record.partition, "offset": record.offset}},
    )
