"""The append-only store: append to a tenant's chain, read it back, query it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import event, func, insert, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agentbus.storage import TenantRepository
from contracts.envelope import Envelope
from contracts.events.audit import AuditRecorded

from .chain import GENESIS, Checkpoint, Link, link_hash
from .domain import entry_data, entry_from_envelope, indexed_fields
from .tables import AuditCheckpoint, AuditRecord, ChainHead

__all__ = ["AuditRepository", "CheckpointRepository", "QueryFilter"]

_LINKS = text(
    "SELECT seq, prev_hash, hash, body FROM audit_records"
    " WHERE tenant_id = :tenant AND seq > :after ORDER BY seq LIMIT :batch"
)
_BEFORE_ANY_SEQ = -(2**63)  # a tampered row may carry any seq; the walker reports it
_HEAD_CACHE = "audit.chain_heads"


def _bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


_PENDING = "audit.pending_records"
_LISTENING = "audit.listening"


def _pending(session: AsyncSession) -> list[dict[str, Any]]:
    """Rows appended in this transaction; written in one executemany just before commit."""
    rows: list[dict[str, Any]] | None = session.info.get(_PENDING)
    if rows is None:
        rows = session.info[_PENDING] = []
        if not session.info.get(_LISTENING):
            # Once per session (sessions live for one unit of work); removing a listener
            # from inside its own dispatch is not allowed, so it stays and finds no rows.
            session.info[_LISTENING] = True
            event.listen(session.sync_session, "before_commit", _write_pending)
    return rows


def _write_pending(sync_session: Session) -> None:
    # Runs inside the async session's greenlet, so this synchronous I/O is allowed. One
    # executemany per transaction instead of two statements per record: a batch of
    # records from the bus costs a few round trips instead of hundreds.
    rows = sync_session.info.pop(_PENDING, None)
    if not rows:
        return
    sync_session.execute(insert(AuditRecord), rows)
    heads = sync_session.info.get(_HEAD_CACHE, {})
    for tenant, (seq, digest) in heads.items():
        sync_session.execute(
            update(ChainHead).where(col(ChainHead.tenant_id) == tenant).values(seq=seq, hash=digest)
        )


@dataclass(frozen=True, slots=True)
class QueryFilter:
    """What `GET /v1/audit` asks for; the tenant comes from the repository."""

    run_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


class AuditRepository(TenantRepository[AuditRecord]):
    """One tenant's records: append to its chain, read links and pages."""

    model = AuditRecord

    async def _lock_head(self) -> tuple[int, str]:
        # The head row is the tenant's serialisation point: on PostgreSQL its row lock
        # (FOR UPDATE) makes concurrent appends of one tenant wait; SQLite has one writer.
        cache: dict[str, tuple[int, str]] = self.session.info.setdefault(_HEAD_CACHE, {})
        if self.tenant_id in cache:
            return cache[self.tenant_id]
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        await self.session.exec(
            maker(ChainHead)
            .values(tenant_id=self.tenant_id, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        query = select(ChainHead).where(col(ChainHead.tenant_id) == self.tenant_id)
        head = (await self.session.exec(query.with_for_update())).one()
        cache[self.tenant_id] = (head.seq, head.hash)
        return cache[self.tenant_id]

    async def append(self, envelope: Envelope[AuditRecorded]) -> Link:
        """Add `envelope` as the next link of this tenant's chain (written at commit)."""
        seq, prev = await self._lock_head()
        data = entry_data(envelope)
        body = entry_from_envelope(envelope, seq + 1, data)
        digest = link_hash(prev, body)
        fields = indexed_fields(data, envelope.runid)
        _pending(self.session).append(
            {
                "tenant_id": self.tenant_id,
                "seq": seq + 1,
                "event_id": envelope.id,
                "run_id": fields.run_id,
                "step_id": fields.step_id,
                "action": fields.action,
                "resource_type": fields.resource_type,
                "outcome": fields.outcome,
                "occurred_at": fields.occurred_at,
                "recorded_at": datetime.now(UTC),
                "prev_hash": prev,
                "hash": digest,
                "body": body,
            }
        )
        self.session.info[_HEAD_CACHE][self.tenant_id] = (seq + 1, digest)
        return Link(self.tenant_id, seq + 1, prev, digest, body)

    async def links(self, *, batch: int = 5000) -> AsyncIterator[list[Link]]:
        """Every link of this tenant's chain in seq order, in lists of `batch`.

        Each list is its own query (the next seqs after the last one read), and the event
        loop runs between lists: a trail of millions of rows never holds the database in
        one statement, nor the service's consumers and probes while it is hashed.
        """
        # Plain SQL and one list per fetch: verification reads every row of a trail, and
        # per-row ORM objects or per-row generator steps would cost more than the hashing.
        tenant = self.tenant_id
        after = _BEFORE_ANY_SEQ
        connection = await self.session.connection()
        while True:
            params = {"tenant": tenant, "after": after, "batch": batch}
            rows = (await connection.execute(_LINKS, params)).all()
            if not rows:
                return
            # A tampered SQLite row may hold text where bytes were written.
            yield [
                Link(tenant, seq, prev, digest, body if type(body) is bytes else _bytes(body))
                for seq, prev, digest, body in rows
            ]
            if len(rows) < batch:
                return
            after = rows[-1][0]
            await asyncio.sleep(0)

    async def head(self) -> tuple[int, str]:
        """The stored head pointer (seq 0 and the genesis hash for a new tenant)."""
        query = select(ChainHead).where(col(ChainHead.tenant_id) == self.tenant_id)
        head = (await self.session.exec(query)).first()
        return (head.seq, head.hash) if head else (0, GENESIS)

    async def time_of(self, seq: int) -> str:
        """The CloudEvents time of the entry at `seq` (a checkpoint's `as_of`)."""
        query = select(col(AuditRecord.body)).where(
            col(AuditRecord.tenant_id) == self.tenant_id, col(AuditRecord.seq) == seq
        )
        body = (await self.session.exec(query)).one()
        time: str = orjson.loads(body)["time"]
        return time

    async def tenants(self) -> list[str]:
        """Every tenant with a chain (for operators' tools, not for the tenant API)."""
        rows = await self.session.exec(select(col(ChainHead.tenant_id)).order_by("tenant_id"))
        return list(rows.all())

    async def page(self, where: QueryFilter) -> list[AuditRecord]:
        """Records matching `where` after a seq, in seq order (the API's cursor)."""
        query = self.query().where(col(AuditRecord.seq) > where.after_seq)
        if where.run_id is not None:
            query = query.where(col(AuditRecord.run_id) == where.run_id)
        if where.action is not None:
            query = query.where(col(AuditRecord.action) == where.action)
        if where.since is not None:
            query = query.where(col(AuditRecord.occurred_at) >= where.since)
        if where.until is not None:
            query = query.where(col(AuditRecord.occurred_at) < where.until)
        query = query.order_by(col(AuditRecord.seq)).limit(where.limit)
        return list((await self.session.exec(query)).all())

    async def for_run(self, run_id: str) -> list[AuditRecord]:
        """Every record of one run, in chain order."""
        return await self.find(col(AuditRecord.run_id) == run_id, order=col(AuditRecord.seq))

    async def find(self, *where: Any, limit: int | None = None, order: Any = None) -> list[Any]:
        """This tenant's rows matching `where`, optionally ordered."""
        query = self.query().where(*where)
        if order is not None:
            query = query.order_by(order)
        if limit is not None:
            query = query.limit(limit)
        return list((await self.session.exec(query)).all())


class CheckpointRepository(TenantRepository[AuditCheckpoint]):
    """One tenant's signed checkpoints."""

    model = AuditCheckpoint

    async def all(self) -> list[Checkpoint]:
        """Every checkpoint of the tenant, in seq order."""
        rows = await self.find()
        return [
            Checkpoint(r.tenant_id, r.seq, r.hash, r.key_id, r.signature, r.as_of)
            for r in sorted(rows, key=lambda r: r.seq)
        ]

    async def latest_seq(self) -> int:
        """The highest checkpointed seq (0 when none)."""
        query = select(func.max(col(AuditCheckpoint.seq))).where(
            col(AuditCheckpoint.tenant_id) == self.tenant_id
        )
        return int((await self.session.exec(query)).one() or 0)

    async def keep(self, checkpoint: Checkpoint) -> None:
        """Store a checkpoint; one already stored for that seq is kept."""
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        maker = pg_insert if dialect == "postgresql" else sqlite_insert
        await self.session.exec(
            maker(AuditCheckpoint)
            .values(
                tenant_id=self.tenant_id,
                seq=checkpoint.seq,
                hash=checkpoint.hash,
                key_id=checkpoint.key_id,
                signature=checkpoint.signature,
                as_of=checkpoint.as_of,
                signed_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "seq"])
        )
