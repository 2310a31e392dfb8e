"""Commands from people: vote (approve or reject) and delegate, race-safe across replicas."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from agentbus.storage import UnitOfWork

from .domain import (
    AlreadyVotedError,
    ApprovalError,
    Choice,
    DelegationError,
    Status,
    Vote,
    Voter,
    check_delegation,
    check_vote,
    tally,
)
from .events import audit, user
from .outcomes import Outcomes
from .store import ApprovalRepository, as_votes
from .tables import ApprovalRow, DelegationRow, VoteRow
from .views import policy_of

__all__ = ["Decisions", "NotFoundError", "VoteResult"]


class NotFoundError(Exception):
    """No such request for this tenant (another tenant's is the same: not found)."""


@dataclass(frozen=True)
class VoteResult:
    """What a vote did: the request's status after it and the tally."""

    approval_id: str
    status: Status
    approvals: int
    rejections: int
    decided: bool


class Decisions:
    """Votes and delegations, each in one transaction that locks its request first."""

    def __init__(self, outcomes: Outcomes) -> None:
        self.outcomes = outcomes

    async def vote(
        self,
        uow: UnitOfWork,
        approval_id: str,
        voter: Voter,
        choice: Choice,
        *,
        seen_sha256: str,
        comment: str | None,
    ) -> VoteResult:
        """Record a vote and decide the request if it completes the policy."""
        repo = ApprovalRepository(uow)
        row = await _locked(repo, approval_id)
        votes = as_votes(await repo.votes(row.id))
        delegations = await repo.delegations(row.id)
        given_to = {d.delegate: d.delegator for d in delegations}
        try:
            check_vote(
                status=Status(row.status),
                policy=policy_of(row),
                level=row.level,
                requester=row.requested_by,
                payload_sha256=row.payload_sha256,
                voter=voter,
                seen_sha256=seen_sha256,
                votes=votes,
                delegated_by=[d.delegator for d in delegations],
                delegated_to_voter=given_to.get(voter.subject),
            )
        except ApprovalError as exc:
            self._count_vote(row.tenant_id, choice, exc.code)
            await self._refused(uow, row, voter, f"approval.{choice.value}", exc)
            raise
        repo.add_vote(
            VoteRow(
                tenant_id=row.tenant_id,
                approval_id=row.id,
                voter=voter.subject,
                choice=choice.value,
                comment=comment,
                payload_sha256=seen_sha256,
                on_behalf_of=given_to.get(voter.subject),
            )
        )
        try:
            await uow.session.flush()
        except IntegrityError as exc:  # the unique key: same person, two requests at once
            raise AlreadyVotedError(f"{voter.subject} has already voted on this request") from exc
        self.outcomes.audit(
            uow,
            audit(
                row,
                "approval.vote",
                actor=user(voter.subject),
                event_id=f"{row.id}:audit:vote:{voter.subject}",
                details={"choice": choice.value, "on_behalf_of": given_to.get(voter.subject)},
            ),
        )
        cast = [*votes, Vote(voter.subject, choice, given_to.get(voter.subject))]
        counted = tally(policy_of(row), cast)
        decided = False
        if counted.outcome is not None:
            decided = await self.outcomes.finish(
                uow,
                row,
                counted.outcome,
                deciders=list(counted.deciders),
                reason=comment,
                actor=user(voter.subject),
            )
        await uow.commit()
        self._count_vote(row.tenant_id, choice, "accepted")
        return VoteResult(
            row.id, Status(row.status), counted.approvals, counted.rejections, decided
        )

    async def delegate(
        self,
        uow: UnitOfWork,
        approval_id: str,
        delegator: Voter,
        delegate: str,
        comment: str | None,
    ) -> None:
        """Hand the delegator's vote to `delegate`, recorded and audited."""
        repo = ApprovalRepository(uow)
        row = await _locked(repo, approval_id)
        delegations = await repo.delegations(row.id)
        try:
            check_delegation(
                status=Status(row.status),
                policy=policy_of(row),
                level=row.level,
                requester=row.requested_by,
                delegator=delegator,
                delegate=delegate,
                votes=as_votes(await repo.votes(row.id)),
                delegated_by=[d.delegator for d in delegations],
                delegated_to=[d.delegate for d in delegations],
            )
        except ApprovalError as exc:
            await self._refused(uow, row, delegator, "approval.delegate", exc)
            raise
        repo.add_delegation(
            DelegationRow(
                approval_id=row.id,
                delegator=delegator.subject,
                tenant_id=row.tenant_id,
                delegate=delegate,
                comment=comment,
            )
        )
        try:
            await uow.session.flush()
        except IntegrityError as exc:
            raise DelegationError(f"{delegator.subject} has already delegated their vote") from exc
        self.outcomes.audit(
            uow,
            audit(
                row,
                "approval.delegate",
                actor=user(delegator.subject),
                event_id=f"{row.id}:audit:delegate:{delegator.subject}",
                details={"delegate": delegate},
            ),
        )
        await uow.commit()

    def _count_vote(self, tenant: str, choice: Choice, result: str) -> None:
        self.outcomes.metrics.votes.add(
            1, {"tenant": tenant, "choice": choice.value, "result": result}
        )

    async def _refused(
        self, uow: UnitOfWork, row: ApprovalRow, who: Voter, action: str, exc: ApprovalError
    ) -> None:
        """Audit a refused attempt in its own commit (the caller then raises)."""
        record = audit(
            row,
            action,
            actor=user(who.subject),
            event_id=f"{row.id}:audit:refused:{uuid.uuid4().hex}",
            outcome="denied",
            error_code=exc.code,
            details={"reason": exc.message},
        )
        # Built before the rollback, which expires `row`; the refusal itself changes nothing.
        await uow.session.rollback()
        self.outcomes.audit(uow, record)
        await uow.commit()


async def _locked(repo: ApprovalRepository, approval_id: str) -> ApprovalRow:
    row = await repo.lock(approval_id)
    if row is None:
        raise NotFoundError(approval_id)
    return row
