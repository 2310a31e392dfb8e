"""Where a replay writes its chains: a JSON Lines export or a fresh store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .chain import Checkpoint, Link
from .domain import IndexedFields
from .export import checkpoint_line, link_line
from .tables import AuditCheckpoint, AuditRecord, ChainHead

__all__ = ["JsonlSink", "NotEmptyError", "ReplaySink", "StoreSink"]


class NotEmptyError(RuntimeError):
    """A replay writes only into an empty store, never onto an existing trail."""


class ReplaySink(Protocol):
    """Receives links in replay order, then the final heads and checkpoints."""

    needs_fields: bool

    async def add_many(
        self, links: list[Link], fields: list[IndexedFields | None], event_ids: list[str]
    ) -> None: ...

    async def finish(self, heads: dict[str, tuple[int, str]], marks: list[Checkpoint]) -> None: ...


class JsonlSink:
    """Appends export lines to a file (opened fresh: truncates what was there)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = path.open("wb")
        self._pending: list[bytes] = []

    needs_fields = False

    async def add_many(
        self, links: list[Link], fields: list[IndexedFields | None], event_ids: list[str]
    ) -> None:
        """Queue the links' lines; lines are written in batches."""
        self._pending.extend(map(link_line, links))
        if len(self._pending) >= 10_000:
            self._file.write(b"".join(self._pending))
            self._pending.clear()

    async def add_lines(self, lines: list[bytes]) -> None:
        """Queue link lines made by the replay itself (`linking.link_lines`)."""
        self._pending.extend(lines)
        if len(self._pending) >= 10_000:
            self._file.write(b"".join(self._pending))
            self._pending.clear()

    async def finish(self, heads: dict[str, tuple[int, str]], marks: list[Checkpoint]) -> None:
        """Write the remaining lines and the checkpoints, then close."""
        self._pending.extend(checkpoint_line(mark) for mark in marks)
        self._file.write(b"".join(self._pending))
        self._pending.clear()
        self._file.close()


_COLUMNS = (
    "tenant_id", "seq", "event_id", "run_id", "step_id", "action", "resource_type",
    "outcome", "occurred_at", "recorded_at", "prev_hash", "hash", "body",
)  # fmt: skip
_SQLITE_INSERT = (
    f"INSERT INTO audit_records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)


def _sqlite_time(value: datetime) -> str:
    # Exactly what SQLAlchemy's SQLite DateTime writes (and parses back).
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _sqlite_row(row: dict[str, Any]) -> tuple[Any, ...]:
    values = dict(row)
    values["occurred_at"] = _sqlite_time(row["occurred_at"])
    values["recorded_at"] = _sqlite_time(row["recorded_at"])
    return tuple(values[name] for name in _COLUMNS)


class StoreSink:
    """Bulk-inserts links into an empty audit store (executemany in batches)."""

    def __init__(self, engine: AsyncEngine, *, batch: int = 5_000) -> None:
        self.engine = engine
        self.batch = batch
        self._rows: list[dict[str, Any]] = []
        self._checked = False

    needs_fields = True

    async def _check_empty(self) -> None:
        async with self.engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(AuditRecord))).scalar()
        if count:
            raise NotEmptyError(
                f"the target store already holds {count} audit records; replay into a fresh one"
            )
        self._checked = True

    async def add_many(
        self, links: list[Link], fields: list[IndexedFields | None], event_ids: list[str]
    ) -> None:
        """Queue rows; flush full batches."""
        if not self._checked:
            await self._check_empty()
        for link, field, event_id in zip(links, fields, event_ids, strict=True):
            assert field is not None
            self._rows.append(
                {
                    "tenant_id": link.tenant_id,
                    "seq": link.seq,
                    "event_id": event_id,
                    "run_id": field.run_id,
                    "step_id": field.step_id,
                    "action": field.action,
                    "resource_type": field.resource_type,
                    "outcome": field.outcome,
                    "occurred_at": field.occurred_at,
                    "recorded_at": field.occurred_at,
                    "prev_hash": link.prev_hash,
                    "hash": link.hash,
                    "body": link.body,
                }
            )
        if len(self._rows) >= self.batch:
            await self._flush()

    async def _flush(self) -> None:
        if not self._rows:
            return
        async with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # The driver's executemany with plain tuples: SQLAlchemy's per-row bind
                # processing costs more than SQLite's insert itself in a bulk replay.
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                assert driver is not None
                await driver.executemany(_SQLITE_INSERT, [_sqlite_row(row) for row in self._rows])
            else:
                await conn.execute(insert(AuditRecord), self._rows)
        self._rows = []

    async def finish(self, heads: dict[str, tuple[int, str]], marks: list[Checkpoint]) -> None:
        """Write the last rows, the chain heads and the checkpoints."""
        if not self._checked:
            await self._check_empty()
        await self._flush()
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            if heads:
                await conn.execute(
                    insert(ChainHead),
                    [{"tenant_id": t, "seq": s, "hash": h} for t, (s, h) in sorted(heads.items())],
                )
            if marks:
                await conn.execute(
                    insert(AuditCheckpoint),
                    [
                        {
                            "tenant_id": m.tenant_id,
                            "seq": m.seq,
                            "hash": m.hash,
                            "key_id": m.key_id,
                            "signature": m.signature,
                            "as_of": m.as_of,
                            "signed_at": now,
                        }
                        for m in marks
                    ],
                )
