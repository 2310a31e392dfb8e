"""Unit of work: one transaction holding a handler's state, inbox entry, outbox and timers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from .tables import InboxEntry, OutboxEntry, TimerEntry, utcnow

__all__ = [
    "CommittedRow",
    "DuplicateEventError",
    "EncodedMessage",
    "MessageEncoder",
    "UnitOfWork",
    "UnitOfWorkFactory",
]

log = logging.getLogger("agentbus.storage")


@dataclass(frozen=True)
class EncodedMessage:
    """A message exactly as it goes on the wire, with where it goes: an outbox row's columns."""

    event_id: str
    tenant_id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class MessageEncoder(Protocol):
    """Turns a message into its record and topic; the bus supplies it (storage stays storage)."""

    def __call__(self, message: Any, topic: str | None, /) -> EncodedMessage: ...


@dataclass(frozen=True)
class CommittedRow:
    """An outbox row just committed, as the relay sends it (no need to read it back)."""

    id: int
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


CommitListener = Callable[[list[CommittedRow]], None]


class DuplicateEventError(Exception):
    """The consumer group has already handled this event."""


class UnitOfWork:
    """Owns one transaction; nothing is durable until `commit`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tenant_id: str,
        encoder: MessageEncoder | None = None,
        committed: CommitListener | None = None,
    ) -> None:
        self._sessions = sessions
        self._encoder = encoder
        self._committed = committed
        self.tenant_id = tenant_id
        self._session: AsyncSession | None = None
        self._outbox: list[dict[str, Any]] = []
        self._outbox_headers: list[list[tuple[str, bytes]]] = []  # as encoded, for hand-over
        self._inbox: list[dict[str, Any]] = []
        self._timers: list[dict[str, Any]] = []
        self.published_ids: list[int] = []
        # Scratch space of repositories for this transaction (e.g. rows read and changed,
        # written by a before-commit hook); emptied by every `async with` and commit.
        self.stash: dict[str, Any] = {}
        self._before_commit: list[Callable[[], Awaitable[None]]] = []
        self._after_commit: list[Callable[[], None]] = []

    @property
    def session(self) -> AsyncSession:
        """The transaction's session; repositories filter by `tenant_id` through it."""
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self._outbox = []
        self._outbox_headers = []
        self._inbox = []
        self._timers = []
        self.published_ids = []
        self.stash = {}
        self._before_commit = []
        self._after_commit = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            await session.rollback()  # a no-op after commit; undoes everything otherwise
        finally:
            await session.close()
            self._session = None

    def before_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` at commit, before the inbox and outbox rows: its writes join them.

        A repository that defers its writes (to write a batch's rows in one statement)
        registers here; what the hook raises fails the commit like any other write.
        """
        self._before_commit.append(hook)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook` once the transaction has committed (never after a rollback)."""
        self._after_commit.append(hook)

    async def claim(
        self, consumer_group: str, event_id: str, *, topic: str, partition: int, offset: int
    ) -> None:
        """Record the event in the inbox, or raise DuplicateEventError if it was handled."""
        session = self.session
        session.add(
            InboxEntry(
                consumer_group=consumer_group,
                event_id=event_id,
                tenant_id=self.tenant_id,
                topic=topic,
                partition=partition,
                offset=offset,
            )
        )
        try:
            # Insert first, no look-up: the primary key is the check. Flushing now also
            # takes the row lock, so a replica handling the same event at the same time
            # waits here and then fails on the key instead of double-applying.
            await session.flush()
        except IntegrityError as exc:
            # The transaction is now unusable (PostgreSQL aborts it); the caller discards it.
            raise DuplicateEventError(event_id) from exc

    def claim_unchecked(
        self, consumer_group: str, event_id: str, *, topic: str, partition: int, offset: int
    ) -> None:
        """Stage an inbox entry, written at commit with the others: a duplicate fails it."""
        self._inbox.append(
            {
                "consumer_group": consumer_group,
                "event_id": event_id,
                "tenant_id": self.tenant_id,
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "handled_at": utcnow(),
            }
        )

    async def is_handled(self, consumer_group: str, event_id: str) -> bool:
        """True when the group's inbox already holds the event (a read, no lock)."""
        return event_id in await self.handled_among(consumer_group, [event_id])

    async def handled_among(self, consumer_group: str, event_ids: Sequence[str]) -> set[str]:
        """Which of `event_ids` the group has handled for this unit's tenant, in one query."""
        if not event_ids:
            return set()
        # A Core statement on the connection: the ORM's per-query work cost more than the
        # look-up itself, and every record of an I/O handler makes one.
        connection = await self.session.connection()
        params = {"g": consumer_group, "t": self.tenant_id, "ids": list(event_ids)}
        found = await connection.execute(_HANDLED, params)
        return {row[0] for row in found}

    def publish(self, message: Any, *, topic: str | None = None) -> None:
        """Queue an event in the outbox; it is published only if this unit commits.

        The encoder decides its record and topic (`topic` overrides); an event of another
        tenant than this unit's is refused.
        """
        fields, headers = self._encoded(message, topic)
        fields["created_at"] = utcnow()
        self._outbox.append(fields)
        self._outbox_headers.append(headers)

    def schedule(
        self, message: Any, *, at: datetime, timer_id: str, topic: str | None = None
    ) -> None:
        """Publish `message` once, at or after `at`, if this unit commits and no one cancels.

        `timer_id` names the timer within the tenant (e.g. "step-timeout:<run>:<step>:<n>")
        and is unique for as long as the row is kept: scheduling it again fails the commit.
        """
        if at.tzinfo is None:
            raise ValueError(f"timer {timer_id!r}: `at` must be timezone-aware, got {at!r}")
        fields, _ = self._encoded(message, topic)
        # Stored in UTC: SQLite keeps no zone, so every stored time must share one.
        fire_at = at.astimezone(UTC)
        self._timers.append(
            {**fields, "timer_id": timer_id, "fire_at": fire_at, "created_at": utcnow()}
        )

    async def cancel_timer(self, timer_id: str) -> bool:
        """Cancel this tenant's pending timer; False if unknown, fired or already cancelled."""
        await self._insert_timers()  # a timer scheduled earlier in this unit is cancellable
        result = await self.session.exec(
            update(TimerEntry)
            .where(
                col(TimerEntry.tenant_id) == self.tenant_id,
                col(TimerEntry.timer_id) == timer_id,
                col(TimerEntry.fired_at).is_(None),
                col(TimerEntry.cancelled_at).is_(None),
            )
            .values(cancelled_at=utcnow())
        )
        return bool(result.rowcount)

    async def _insert_timers(self) -> None:
        """Write staged timers as one multi-row INSERT (like the inbox and outbox)."""
        if self._timers:
            table = TimerEntry.__table__  # type: ignore[attr-defined]
            await self.session.exec(insert(table), params=self._timers)
            self._timers = []

    def _encoded(
        self, message: Any, topic: str | None
    ) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
        """The outbox columns of `message`, exactly as it will go on the wire; its headers."""
        if self._encoder is None:
            raise RuntimeError(
                "this unit of work has no message encoder, so it cannot publish or schedule: "
                "use the Bus's units (bus.uow) or agentbus.bus.unit_factory(engine)"
            )
        encoded = self._encoder(message, topic)
        if encoded.tenant_id != self.tenant_id:
            raise PermissionError(
                f"event for tenant {encoded.tenant_id!r} published inside a unit of work "
                f"of tenant {self.tenant_id!r}"
            )
        return {
            "event_id": encoded.event_id,
            "tenant_id": encoded.tenant_id,
            "topic": encoded.topic,
            "key": encoded.key,
            "value": encoded.value,
            "headers": [[name, value.decode()] for name, value in encoded.headers],
        }, encoded.headers

    async def commit(self) -> None:
        """Commit state, inbox and outbox together; remember which outbox rows to relay.

        Staged inbox and outbox rows go in as one multi-row INSERT each, not as ORM
        objects: building and flushing thousands of model instances is what a batch of
        short handlers would otherwise spend its time on.
        """
        session = self.session
        while self._before_commit:
            await self._before_commit.pop(0)()
        await self._insert_timers()
        if self._inbox:
            await session.exec(insert(InboxEntry.__table__), params=self._inbox)  # type: ignore[attr-defined]
        ids: list[int] = []
        if self._outbox:
            table = OutboxEntry.__table__  # type: ignore[attr-defined]
            # No sort_by_parameter_order: with it SQLite inserts one row per statement. Ids
            # are matched to rows by event id (unique) and sorted back into write order.
            statement = insert(table).returning(table.c.id, table.c.event_id)
            id_of = {row[1]: row[0] for row in await session.exec(statement, params=self._outbox)}
            ids = sorted(id_of.values())
        await session.commit()
        outbox, headers = self._outbox, self._outbox_headers
        self._inbox, self._outbox, self._outbox_headers = [], [], []
        self.published_ids = ids
        if self._committed is not None and outbox:
            rows = [
                CommittedRow(id_of[row["event_id"]], row["topic"], row["key"], row["value"], raw)
                for row, raw in zip(outbox, headers, strict=True)
            ]
            rows.sort(key=lambda row: row.id)
            self._committed(rows)
        self.stash = {}
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                # Committed is committed: a failing cache update must not redo the work.
                log.exception("after-commit hook failed")


_INBOX: Any = InboxEntry.__table__  # type: ignore[attr-defined]
_HANDLED = select(_INBOX.c.event_id).where(
    _INBOX.c.consumer_group == bindparam("g"),
    _INBOX.c.tenant_id == bindparam("t"),
    _INBOX.c.event_id.in_(bindparam("ids", expanding=True)),
)


class UnitOfWorkFactory:
    """Makes a UnitOfWork per message; the one place a service's engine is bound."""

    def __init__(self, engine: AsyncEngine, encoder: MessageEncoder | None = None) -> None:
        self.engine = engine
        self.encoder = encoder
        self.sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        # Told of every unit's committed outbox rows (the running relay sends them at once).
        self.committed: CommitListener | None = None

    def __call__(self, tenant_id: str) -> UnitOfWork:
        return UnitOfWork(self.sessions, tenant_id, self.encoder, self.committed)
