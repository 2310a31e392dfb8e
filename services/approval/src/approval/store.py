"""Repository of approval requests, votes and delegations; every query scoped by tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from agentbus.storage import TenantRepository

from .domain import Choice, Status, Vote
from .tables import ApprovalRow, DelegationRow, VoteRow

__all__ = ["ApprovalRepository", "as_votes"]


class ApprovalRepository(TenantRepository[ApprovalRow]):
    """Approval requests of one tenant, with their votes and delegations."""

    model = ApprovalRow

    async def by_request(self, request_id: str) -> ApprovalRow | None:
        """The approval created for request event `request_id`."""
        rows = await self.find(col(ApprovalRow.request_id) == request_id, limit=1)
        return rows[0] if rows else None

    async def lock(self, approval_id: str) -> ApprovalRow | None:
        """Serialise writers on one request: bump its version first, then read it.

        Writing before reading makes the second of two concurrent votes wait for the
        first to commit (PostgreSQL row lock, SQLite write lock), so it counts the first
        vote instead of both deciding, or neither.
        """
        await self.session.exec(
            update(ApprovalRow)
            .where(col(ApprovalRow.id) == approval_id, col(ApprovalRow.tenant_id) == self.tenant_id)
            .values(version=ApprovalRow.version + 1)
        )
        query = (
            self.query()
            .where(col(ApprovalRow.id) == approval_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def finish(
        self, approval_id: str, status: Status, *, reason: str | None, at: datetime
    ) -> bool:
        """Move a PENDING request to `status`; False when it was no longer pending."""
        result = await self.session.exec(
            update(ApprovalRow)
            .where(
                col(ApprovalRow.id) == approval_id,
                col(ApprovalRow.tenant_id) == self.tenant_id,
                col(ApprovalRow.status) == Status.PENDING.value,
            )
            .values(status=status.value, reason=reason, decided_at=at)
        )
        return bool(result.rowcount == 1)

    async def escalate(self, approval_id: str, *, from_level: int, deadline: datetime) -> bool:
        """Raise the level of a PENDING request still at `from_level`; False otherwise."""
        result = await self.session.exec(
            update(ApprovalRow)
            .where(
                col(ApprovalRow.id) == approval_id,
                col(ApprovalRow.tenant_id) == self.tenant_id,
                col(ApprovalRow.status) == Status.PENDING.value,
                col(ApprovalRow.level) == from_level,
            )
            .values(level=from_level + 1, deadline=deadline)
        )
        return bool(result.rowcount == 1)

    async def votes(self, approval_id: str) -> list[VoteRow]:
        """Votes on a request, oldest first."""
        query = (
            select(VoteRow)
            .where(
                col(VoteRow.tenant_id) == self.tenant_id, col(VoteRow.approval_id) == approval_id
            )
            .order_by(col(VoteRow.id))
        )
        return list((await self.session.exec(query)).all())

    async def delegations(self, approval_id: str) -> list[DelegationRow]:
        """Delegations on a request, oldest first."""
        query = (
            select(DelegationRow)
            .where(
                col(DelegationRow.tenant_id) == self.tenant_id,
                col(DelegationRow.approval_id) == approval_id,
            )
            .order_by(col(DelegationRow.created_at))
        )
        return list((await self.session.exec(query)).all())

    def add_vote(self, row: VoteRow) -> None:
        """Stage a vote (the unique key refuses a second one by the same person)."""
        self._same_tenant(row)
        self.session.add(row)

    def add_delegation(self, row: DelegationRow) -> None:
        """Stage a delegation."""
        self._same_tenant(row)
        self.session.add(row)

    async def pending(
        self,
        *,
        run_id: str | None = None,
        role: str | None = None,
        older_than: datetime | None = None,
        limit: int = 100,
    ) -> list[ApprovalRow]:
        """Pending requests, oldest first, optionally for one run, role or age."""
        query = self.query().where(col(ApprovalRow.status) == Status.PENDING.value)
        if run_id is not None:
            query = query.where(col(ApprovalRow.run_id) == run_id)
        if older_than is not None:
            query = query.where(col(ApprovalRow.created_at) <= older_than)
        query = query.order_by(col(ApprovalRow.created_at), col(ApprovalRow.id))
        rows = list((await self.session.exec(query)).all())
        if role is not None:
            # Roles live in a JSON list; filtering here keeps SQLite and PostgreSQL alike.
            rows = [r for r in rows if not r.roles or role in _roles_at(r)]
        return rows[:limit]

    def _same_tenant(self, row: Any) -> None:
        if row.tenant_id != self.tenant_id:
            raise PermissionError(f"row of tenant {row.tenant_id!r} in tenant {self.tenant_id!r}")


def _roles_at(row: ApprovalRow) -> set[str]:
    return set(row.roles) | (set(row.escalation_roles) if row.level > 0 else set())


def as_votes(rows: list[VoteRow]) -> list[Vote]:
    """Domain votes from rows."""
    return [Vote(r.voter, Choice(r.choice), r.on_behalf_of) for r in rows]
