"""Tenant-scoped access to the registry, grants, the idempotency store and approvals."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlmodel import col, select

from agentbus.bus import TransientError
from agentbus.storage import TenantRepository
from agentbus.storage.tables import as_utc

from .domain import SHARED_TENANT, Grant, ToolDefinition
from .store import ApprovalRow, CallRow, DefinitionRow, GrantRow, utcnow

__all__ = [
    "ApprovalRepository",
    "CallInFlightError",
    "CallRepository",
    "DefinitionConflictError",
    "DefinitionRepository",
    "GrantRepository",
    "version_key",
]


class DefinitionConflictError(ValueError):
    """A registered version may not change; publish a new version instead."""


RUNNING, SUCCEEDED, UNKNOWN = "running", "succeeded", "unknown"
"""States of a `tool_calls` row: attempt started, result stored, outcome unknown."""


class CallInFlightError(TransientError):
    """Another delivery of the same idempotency key is running; try again later."""


def version_key(version: str) -> tuple[tuple[int, Any], ...]:
    """Sort key: numeric parts numerically (`10` after `9`), text parts after numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+-]", version))


class DefinitionRepository(TenantRepository[DefinitionRow]):
    """Definitions this tenant sees: its own plus the shared ones (tenant `*`)."""

    model = DefinitionRow

    async def visible(self, name: str | None = None) -> list[ToolDefinition]:
        """Every definition (or every version of `name`), the tenant's own first."""
        query = select(DefinitionRow).where(
            col(DefinitionRow.tenant_id).in_([self.tenant_id, SHARED_TENANT])
        )
        if name is not None:
            query = query.where(col(DefinitionRow.name) == name)
        rows = list((await self.session.exec(query)).all())
        own: dict[tuple[str, str], DefinitionRow] = {}
        for row in sorted(rows, key=lambda r: r.tenant_id == SHARED_TENANT):
            own.setdefault((row.name, row.version), row)
        ordered = sorted(own.values(), key=lambda r: (r.name, version_key(r.version)))
        return [_parsed(r) for r in ordered]

    async def resolve(self, name: str, version: str | None) -> ToolDefinition | None:
        """The pinned version, or the latest one when `version` is None."""
        versions = await self.visible(name)
        if version is None:
            return versions[-1] if versions else None
        return next((d for d in versions if d.version == version), None)

    async def register(self, definition: ToolDefinition, *, source: str) -> bool:
        """Store a new version; False when identical, DefinitionConflictError when changed."""
        key = (self.tenant_id, definition.name, definition.version)
        existing = await self.session.get(DefinitionRow, key)
        digest = definition.content_hash()
        if existing is not None:
            if existing.content_hash == digest:
                return False
            raise DefinitionConflictError(
                f"{definition.name} version {definition.version} is already registered with "
                "other content; give the change a new version"
            )
        self.add(
            DefinitionRow(
                tenant_id=self.tenant_id,
                name=definition.name,
                version=definition.version,
                content_hash=digest,
                source=source,
                definition=definition.model_dump(mode="json"),
            )
        )
        return True


class GrantRepository(TenantRepository[GrantRow]):
    """This tenant's grants."""

    model = GrantRow

    async def grant_for(self, tool: str) -> Grant | None:
        """The grant for `tool`, or None (deny)."""
        row = await self.get(self.tenant_id, tool)
        return Grant.model_validate(row.grant) if row is not None else None

    async def all(self) -> list[Grant]:
        """Every grant of the tenant, by tool name."""
        rows = await self.find()
        return [Grant.model_validate(r.grant) for r in sorted(rows, key=lambda r: r.tool)]

    async def put(self, grant: Grant) -> None:
        """Create or replace the grant for `grant.tool`."""
        row = await self.get(self.tenant_id, grant.tool)
        if row is None:
            self.add(GrantRow(tenant_id=self.tenant_id, tool=grant.tool, grant=grant.model_dump()))
        else:
            row.grant = grant.model_dump()
            row.updated_at = utcnow()
            self.add(row)

    async def revoke(self, tool: str) -> bool:
        """Delete the grant; False when there was none."""
        row = await self.get(self.tenant_id, tool)
        if row is None:
            return False
        await self.session.delete(row)
        return True


class CallRepository(TenantRepository[CallRow]):
    """Results stored by (tenant, idempotency key); a running call holds a lease."""

    model = CallRow

    async def reserve(
        self,
        key: str,
        *,
        event_id: str,
        tool: str,
        version: str,
        lease_s: float,
        at_most_once: bool = False,
    ) -> CallRow | None:
        """Reserve the key (None), or the row that decides instead: succeeded or unknown.

        The reservation is the "attempt started" marker, committed before the call. A live
        reservation by another event raises CallInFlightError (transient). Otherwise a
        reservation still there means an attempt started and never recorded its end (a
        crash): the same event or an expired lease takes it over and calls again, unless
        the call is `at_most_once`, whose row then turns `unknown` and is returned.
        """
        now = utcnow()
        lease_until = now + timedelta(seconds=lease_s)
        # A new key (the usual case) costs one INSERT, no read and no ORM object.
        inserted = await self.session.exec(
            _insert_new_key(self.session.bind.dialect.name),  # type: ignore[union-attr]
            params={
                "tenant_id": self.tenant_id,
                "idempotency_key": key,
                "state": RUNNING,
                "owner_event_id": event_id,
                "lease_until": lease_until,
                "tool": tool,
                "version": version,
                "result": None,
                "duration_ms": 0,
                "updated_at": now,
            },
        )
        if inserted.first() is not None:  # RETURNING: rowcount is -1 under psycopg here
            return None
        row = await self.get(self.tenant_id, key)
        if row is None:  # deleted (released) since the INSERT looked
            raise CallInFlightError(f"idempotency key {key!r} changed concurrently")
        if row.state in (SUCCEEDED, UNKNOWN):
            return row
        if row.owner_event_id != event_id and as_utc(row.lease_until) > now:
            raise CallInFlightError(f"idempotency key {key!r} is being executed by another event")
        if at_most_once:
            row.state, row.updated_at = UNKNOWN, now
            self.add(row)
            return row
        row.owner_event_id, row.lease_until, row.updated_at = event_id, lease_until, now
        self.add(row)
        return None

    async def succeed(
        self, key: str, *, result: Any, duration_ms: int, tool: str, version: str
    ) -> None:
        """Store the result under the key (creating the row if the reservation vanished)."""
        now = utcnow()
        # One UPDATE, no read first, built once: this runs once per write call.
        updated = await self.session.exec(
            _STORE_RESULT,
            params={"t": self.tenant_id, "k": key, "r": result, "d": duration_ms, "u": now},
        )
        if updated.first() is None:
            self.add(
                CallRow(
                    tenant_id=self.tenant_id,
                    idempotency_key=key,
                    state=SUCCEEDED,
                    owner_event_id="",
                    lease_until=now,
                    tool=tool,
                    version=version,
                    result=result,
                    duration_ms=duration_ms,
                )
            )

    async def release(self, key: str) -> None:
        """Drop a running reservation after a failure, so a later attempt may run."""
        row = await self.get(self.tenant_id, key)
        if row is not None and row.state == RUNNING:
            await self.session.delete(row)

    async def mark_unknown(self, key: str) -> None:
        """The call may have taken effect and did not say: hold the key for an operator."""
        row = await self.get(self.tenant_id, key)
        if row is not None and row.state == RUNNING:
            row.state, row.updated_at = UNKNOWN, utcnow()
            self.add(row)

    async def unresolved(self) -> list[CallRow]:
        """Calls whose outcome is unknown (operators reconcile them), oldest first."""
        rows = await self.find(col(CallRow.state) == UNKNOWN)
        return sorted(rows, key=lambda r: as_utc(r.updated_at))

    async def resolve(self, key: str, *, applied: bool, result: Any = None) -> bool:
        """An operator's verdict on an unknown call: applied (later deliveries replay
        `result`) or not applied (the key is freed and the next attempt calls again)."""
        row = await self.get(self.tenant_id, key)
        if row is None or row.state != UNKNOWN:
            return False
        if applied:
            row.state, row.result, row.updated_at = SUCCEEDED, result, utcnow()
            self.add(row)
        else:
            await self.session.delete(row)
            await self.session.flush()
        return True


class ApprovalRepository(TenantRepository[ApprovalRow]):
    """Approvals seen on the approval topics, looked up by the approval id a request names."""

    model = ApprovalRow

    async def _row(self, request_id: str) -> ApprovalRow:
        return await self.get(self.tenant_id, request_id) or ApprovalRow(
            tenant_id=self.tenant_id, request_id=request_id
        )

    async def requested(
        self, request_id: str, *, run_id: str, step_id: str, tool: str | None, digest: str | None
    ) -> None:
        """Note what an approval request covers (the arguments' hash among its details)."""
        row = await self._row(request_id)
        row.run_id, row.step_id, row.tool = run_id, step_id, tool
        # The decision's hash, when it came first, is the one the approvers signed off.
        row.arguments_sha256 = row.arguments_sha256 or digest
        row.updated_at = utcnow()
        self.add(row)

    async def decided(
        self,
        request_id: str,
        *,
        approval_id: str,
        outcome: str,
        run_id: str,
        step_id: str,
        digest: str | None = None,
    ) -> None:
        """Note the final outcome (and the payload hash it applies to, when given)."""
        row = await self._row(request_id)
        row.approval_id, row.outcome = approval_id, outcome
        if digest is not None:
            row.arguments_sha256 = digest
        row.run_id, row.step_id = row.run_id or run_id, row.step_id or step_id
        row.updated_at = utcnow()
        self.add(row)

    async def by_approval_id(self, approval_id: str) -> ApprovalRow | None:
        """The approval with this id in this tenant."""
        rows = await self.find(col(ApprovalRow.approval_id) == approval_id, limit=1)
        return rows[0] if rows else None


_CALLS = CallRow.__table__  # type: ignore[attr-defined]
_STORE_RESULT = (
    update(_CALLS)
    .where(_CALLS.c.tenant_id == bindparam("t"), _CALLS.c.idempotency_key == bindparam("k"))
    .values(
        state=SUCCEEDED,
        result=bindparam("r", type_=_CALLS.c.result.type),
        duration_ms=bindparam("d"),
        updated_at=bindparam("u", type_=_CALLS.c.updated_at.type),
    )
    .returning(_CALLS.c.idempotency_key)
)


@functools.cache
def _insert_new_key(dialect: str) -> Insert:
    """INSERT that returns no row when the key exists: one statement, no error (an error
    would abort a PostgreSQL transaction shared with other records)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_CALLS).on_conflict_do_nothing(
        index_elements=["tenant_id", "idempotency_key"]
    )
    return statement.returning(_CALLS.c.idempotency_key)


_PARSED: dict[str, ToolDefinition] = {}


def _parsed(row: DefinitionRow) -> ToolDefinition:
    # A definition's content never changes under its hash, so parse each one once.
    definition = _PARSED.get(row.content_hash)
    if definition is None:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        definition = _PARSED[row.content_hash] = ToolDefinition.model_validate(row.definition)
    return definition
