"""Approval rules, pure: who may vote, when a request is decided, what a deadline does."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "AlreadyVotedError",
    "ApprovalError",
    "Choice",
    "DelegationError",
    "Escalate",
    "Expire",
    "ExpiryRule",
    "NotEligibleError",
    "NotPendingError",
    "PayloadChangedError",
    "Policy",
    "SelfApprovalError",
    "Status",
    "Tally",
    "Vote",
    "Voter",
    "canonical_hash",
    "check_delegation",
    "check_vote",
    "on_deadline",
    "tally",
]


class Status(StrEnum):
    """Where a request stands; only PENDING changes."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Choice(StrEnum):
    """A vote."""

    APPROVE = "approve"
    REJECT = "reject"


class ExpiryRule(StrEnum):
    """What a passed deadline does."""

    REJECT = "reject"
    ESCALATE = "escalate"
    APPROVE = "approve"


class ApprovalError(Exception):
    """A refused action; `code` is stable, the message says what to do."""

    code = "approval.refused"
    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SelfApprovalError(ApprovalError):
    """The requester tried to decide their own request."""

    code = "approval.self_approval"
    status = 403


class NotEligibleError(ApprovalError):
    """The voter lacks every role that may approve."""

    code = "approval.not_eligible"
    status = 403


class AlreadyVotedError(ApprovalError):
    """A person votes once per request."""

    code = "approval.already_voted"


class NotPendingError(ApprovalError):
    """The request is already final."""

    code = "approval.not_pending"


class PayloadChangedError(ApprovalError):
    """The vote was for another payload than the one pending."""

    code = "approval.payload_changed"


class DelegationError(ApprovalError):
    """The delegation is not allowed."""

    code = "approval.delegation_refused"


@dataclass(frozen=True, slots=True)
class Policy:
    """How many, who, and what a deadline does."""

    required_approvals: int
    rejections_needed: int = 1
    roles: frozenset[str] = frozenset()
    escalation_roles: frozenset[str] = frozenset()
    on_expiry: ExpiryRule = ExpiryRule.REJECT
    escalation_window: timedelta = timedelta(hours=1)
    escalation_deadline: datetime | None = None

    def roles_at(self, level: int) -> frozenset[str]:
        """Roles that may approve at escalation `level` (0 before any escalation)."""
        return self.roles | self.escalation_roles if level > 0 else self.roles


@dataclass(frozen=True, slots=True)
class Voter:
    """A person acting on a request."""

    subject: str
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Vote:
    """A recorded vote; `on_behalf_of` names the delegator whose seat it uses."""

    voter: str
    choice: Choice
    on_behalf_of: str | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """Votes counted; `outcome` is set once the policy's threshold is met."""

    approvals: int
    rejections: int
    outcome: Status | None = None
    deciders: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Escalate:
    """Widen the approver set and wait until `deadline`."""

    deadline: datetime


@dataclass(frozen=True, slots=True)
class Expire:
    """End the request: EXPIRED, or APPROVED where the policy says so."""

    outcome: Status
    reason: str


def canonical_hash(payload: Mapping[str, Any] | None) -> str:
    """`sha256:` + hex digest of the payload's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(payload or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def check_vote(
    *,
    status: Status,
    policy: Policy,
    level: int,
    requester: str,
    payload_sha256: str,
    voter: Voter,
    seen_sha256: str,
    votes: Iterable[Vote],
    delegated_by: Iterable[str],
    delegated_to_voter: str | None,
) -> None:
    """Raise the ApprovalError that forbids `voter` voting now; return when allowed.

    `delegated_by` are people who gave their vote away; `delegated_to_voter` is whoever
    delegated to this voter (they vote on that person's authority).
    """
    if status is not Status.PENDING:
        raise NotPendingError(f"the request is already {status.value}")
    if voter.subject == requester:
        raise SelfApprovalError("the requester cannot decide their own request")
    if seen_sha256 != payload_sha256:
        raise PayloadChangedError(
            f"you reviewed payload {seen_sha256} but the request is for {payload_sha256}; "
            "review it again"
        )
    cast = list(votes)
    if any(v.voter == voter.subject or v.on_behalf_of == voter.subject for v in cast):
        raise AlreadyVotedError(f"{voter.subject} has already voted on this request")
    if voter.subject in set(delegated_by):
        raise AlreadyVotedError(f"{voter.subject} delegated their vote on this request")
    if delegated_to_voter is not None:
        if any(v.voter == delegated_to_voter for v in cast):
            raise AlreadyVotedError(f"{delegated_to_voter} has already voted on this request")
        return
    allowed = policy.roles_at(level)
    if allowed and not (voter.roles & allowed):
        raise NotEligibleError(
            f"approving this request needs one of the roles: {', '.join(sorted(allowed))}"
        )


def check_delegation(
    *,
    status: Status,
    policy: Policy,
    level: int,
    requester: str,
    delegator: Voter,
    delegate: str,
    votes: Iterable[Vote],
    delegated_by: Iterable[str],
    delegated_to: Iterable[str],
) -> None:
    """Raise the ApprovalError that forbids this delegation; return when allowed."""
    if status is not Status.PENDING:
        raise NotPendingError(f"the request is already {status.value}")
    if delegate in (requester, delegator.subject):
        raise DelegationError("delegate to someone other than yourself and the requester")
    if delegator.subject == requester:
        raise SelfApprovalError("the requester cannot delegate a vote on their own request")
    cast = list(votes)
    if any(delegator.subject in (v.voter, v.on_behalf_of) for v in cast):
        raise AlreadyVotedError(f"{delegator.subject} has already voted on this request")
    if delegator.subject in set(delegated_by):
        raise DelegationError(f"{delegator.subject} has already delegated their vote")
    if delegate in set(delegated_to) or any(v.voter == delegate for v in cast):
        raise DelegationError(f"{delegate} already holds a vote on this request")
    allowed = policy.roles_at(level)
    if allowed and not (delegator.roles & allowed):
        raise NotEligibleError(f"delegating needs one of the roles: {', '.join(sorted(allowed))}")


def tally(policy: Policy, votes: Iterable[Vote]) -> Tally:
    """Count votes; the request is decided once approvals or rejections reach the policy."""
    cast = list(votes)
    approvers = tuple(v.voter for v in cast if v.choice is Choice.APPROVE)
    rejecters = tuple(v.voter for v in cast if v.choice is Choice.REJECT)
    if len(rejecters) >= policy.rejections_needed:
        return Tally(len(approvers), len(rejecters), Status.REJECTED, rejecters)
    if len(approvers) >= policy.required_approvals:
        return Tally(len(approvers), len(rejecters), Status.APPROVED, approvers)
    return Tally(len(approvers), len(rejecters))


def on_deadline(policy: Policy, level: int, now: datetime) -> Escalate | Expire:
    """What the deadline at `level` does: escalate once, or end the request."""
    if policy.on_expiry is ExpiryRule.ESCALATE and level == 0:
        deadline = policy.escalation_deadline
        if deadline is None or deadline <= now:
            deadline = now + policy.escalation_window
        return Escalate(deadline)
    if policy.on_expiry is ExpiryRule.APPROVE:
        return Expire(Status.APPROVED, "approved on expiry, as the policy says")
    return Expire(Status.EXPIRED, "deadline passed without a decision")
