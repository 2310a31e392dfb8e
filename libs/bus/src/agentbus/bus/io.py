"""The handler shape for network I/O: read, then call with no transaction open, then record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal, Protocol, TypeVar

from agentbus.storage import UnitOfWork
from contracts.envelope import Envelope

__all__ = ["SETTLED", "IoContext", "IoHandler", "Settled", "idempotency_key"]

P = TypeVar("P")
R = TypeVar("R")


class _Settled(Enum):
    SETTLED = "settled"


SETTLED: Final = _Settled.SETTLED
"""What `prepare` returns for an event that needs no I/O (e.g. not one this handler acts
on): the runtime records it handled in prepare's own transaction, with whatever prepare
wrote or published, and neither `perform` nor `record` runs. One transaction, not two."""

Settled = Literal[_Settled.SETTLED]


def idempotency_key(consumer_group: str, event_id: str) -> str:
    """The key a side effect of handling `event_id` carries: stable across redeliveries."""
    return f"{consumer_group}:{event_id}"


@dataclass(frozen=True)
class IoContext:
    """What `perform` may use: no session, so no transaction can be held across the call."""

    envelope: Envelope[Any]
    idempotency_key: str
    attempt: int
    consumer_group: str


class IoHandler(Protocol[P, R]):
    """A handler whose work waits on the network (a model call, a tool call, a webhook).

    The runtime skips events already handled, then runs the three phases:

    - `prepare(envelope, uow)`: reads and short writes (e.g. a budget reservation) in
      one transaction that the runtime commits; it must be safe to run again, because a
      crash or a transient failure later on runs every phase again.
    - `perform(prepared, ctx)`: the I/O, with no transaction open. Side effects carry
      `ctx.idempotency_key`, which is the same on every redelivery of the event.
    - `record(envelope, result, uow)`: one short transaction holding the outcome, the
      inbox entry and the outbox events; a duplicate that raced in is detected there and
      the whole transaction is discarded.

    A transient error from any phase retries all three (with backoff); a permanent one
    dead-letters the event (and publishes a failed reply for a request). `prepare` may
    return SETTLED when there is nothing to call: the event is then done in one transaction.
    """

    async def prepare(self, envelope: Envelope[Any], uow: UnitOfWork) -> P | Settled: ...

    async def perform(self, prepared: P, ctx: IoContext) -> R: ...

    async def record(self, envelope: Envelope[Any], result: R, uow: UnitOfWork) -> None: ...
