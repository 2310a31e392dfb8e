"""Pure approval rules: quorum, veto, separation of duties, delegation, deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from approval.domain import (
    AlreadyVotedError,
    Choice,
    DelegationError,
    Escalate,
    Expire,
    ExpiryRule,
    NotEligibleError,
    NotPendingError,
    PayloadChangedError,
    Policy,
    SelfApprovalError,
    Status,
    Vote,
    Voter,
    canonical_hash,
    check_delegation,
    check_vote,
    on_deadline,
    tally,
)

SHA = canonical_hash({"a": 1})
FINANCE = Policy(required_approvals=2, roles=frozenset({"finance"}))


def vote_check(voter: Voter, votes: list[Vote] = [], **overrides: object) -> None:  # noqa: B006
    args: dict[str, object] = {
        "status": Status.PENDING,
        "policy": FINANCE,
        "level": 0,
        "requester": "alice",
        "payload_sha256": SHA,
        "voter": voter,
        "seen_sha256": SHA,
        "votes": votes,
        "delegated_by": [],
        "delegated_to_voter": None,
    } | overrides
    check_vote(**args)  # type: ignore[arg-type]


def test_canonical_hash_ignores_key_order_but_not_values() -> None:
    assert canonical_hash({"a": 1, "b": 2}) == canonical_hash({"b": 2, "a": 1})
    assert canonical_hash({"a": 1}) != canonical_hash({"a": 2})
    assert SHA.startswith("sha256:")
    assert len(SHA) == 71


def test_two_of_three() -> None:
    one = [Vote("bob", Choice.APPROVE)]
    assert tally(FINANCE, one).outcome is None
    two = [*one, Vote("carol", Choice.APPROVE)]
    assert tally(FINANCE, two).outcome is Status.APPROVED
    assert tally(FINANCE, two).deciders == ("bob", "carol")


def test_one_rejection_vetoes_unless_policy_needs_more() -> None:
    votes = [Vote("bob", Choice.APPROVE), Vote("carol", Choice.REJECT)]
    assert tally(FINANCE, votes).outcome is Status.REJECTED
    lenient = Policy(required_approvals=2, rejections_needed=2)
    assert tally(lenient, votes).outcome is None


@pytest.mark.parametrize(
    ("voter", "overrides", "error"),
    [
        (Voter("alice", frozenset({"finance"})), {}, SelfApprovalError),
        (Voter("erin", frozenset({"support"})), {}, NotEligibleError),
        (Voter("bob", frozenset({"finance"})), {"status": Status.EXPIRED}, NotPendingError),
        (
            Voter("bob", frozenset({"finance"})),
            {"seen_sha256": canonical_hash({})},
            PayloadChangedError,
        ),
        (
            Voter("bob", frozenset({"finance"})),
            {"votes": [Vote("bob", Choice.APPROVE)]},
            AlreadyVotedError,
        ),
        (Voter("bob", frozenset({"finance"})), {"delegated_by": ["bob"]}, AlreadyVotedError),
    ],
)
def test_refused_votes(voter: Voter, overrides: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        vote_check(voter, **overrides)  # type: ignore[arg-type]


def test_allowed_votes() -> None:
    vote_check(Voter("bob", frozenset({"finance"})))
    # A delegate votes on the delegator's authority, without the role.
    vote_check(Voter("erin", frozenset()), delegated_to_voter="bob")
    # Escalation widens the roles.
    wider = Policy(
        required_approvals=1, roles=frozenset({"finance"}), escalation_roles=frozenset({"managers"})
    )
    vote_check(Voter("frank", frozenset({"managers"})), policy=wider, level=1)
    with pytest.raises(NotEligibleError):
        vote_check(Voter("frank", frozenset({"managers"})), policy=wider, level=0)


def test_delegation_rules() -> None:
    base: dict[str, object] = {
        "status": Status.PENDING,
        "policy": FINANCE,
        "level": 0,
        "requester": "alice",
        "delegator": Voter("bob", frozenset({"finance"})),
        "delegate": "erin",
        "votes": [],
        "delegated_by": [],
        "delegated_to": [],
    }
    check_delegation(**base)  # type: ignore[arg-type]
    for override, error in [
        ({"delegate": "alice"}, DelegationError),
        ({"delegate": "bob"}, DelegationError),
        ({"delegated_by": ["bob"]}, DelegationError),
        ({"delegated_to": ["erin"]}, DelegationError),
        ({"votes": [Vote("bob", Choice.REJECT)]}, AlreadyVotedError),
        ({"delegator": Voter("zoe", frozenset())}, NotEligibleError),
    ]:
        with pytest.raises(error):
            check_delegation(**(base | override))  # type: ignore[arg-type]


def test_deadline_escalates_once_then_expires() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    policy = Policy(
        required_approvals=1,
        escalation_roles=frozenset({"managers"}),
        on_expiry=ExpiryRule.ESCALATE,
        escalation_window=timedelta(minutes=5),
    )
    assert on_deadline(policy, 0, now) == Escalate(now + timedelta(minutes=5))
    assert on_deadline(policy, 1, now) == Expire(
        Status.EXPIRED, "deadline passed without a decision"
    )
    assert on_deadline(Policy(1), 0, now).outcome is Status.EXPIRED  # type: ignore[union-attr]
    auto = Policy(1, on_expiry=ExpiryRule.APPROVE)
    assert on_deadline(auto, 0, now).outcome is Status.APPROVED  # type: ignore[union-attr]
