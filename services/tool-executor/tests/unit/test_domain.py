"""Deny by default, scopes and roles named when missing, approvals bound to arguments."""

from __future__ import annotations

import pytest
from tool_executor.domain import (
    Grant,
    Implementation,
    SideEffect,
    ToolDefinition,
    authorize,
    check_approval,
)
from tool_executor.repositories import version_key

from contracts.events.tool import arguments_sha256


def definition(**changes: object) -> ToolDefinition:
    base = ToolDefinition(
        name="crm.update",
        version="1",
        side_effect=SideEffect.WRITE,
        scopes=["crm:write"],
        implementation=Implementation(kind="builtin", name="http.request"),
    )
    return base.model_copy(update=changes)


def test_no_grant_is_denied_and_the_message_names_the_grant() -> None:
    denial = authorize(definition(), None, tenant_id="acme", caller_scopes=[], caller_roles=[])
    assert denial is not None
    assert denial.code == "tool.grant_missing"
    assert "'acme' has no grant for tool 'crm.update'" in denial.message
    assert denial.details == {"missing_grant": "crm.update"}


def test_scope_missing_from_grant_or_caller_is_named() -> None:
    grant = Grant(tool="crm.update", scopes=[])
    denial = authorize(
        definition(), grant, tenant_id="acme", caller_scopes=["crm:write"], caller_roles=[]
    )
    assert denial is not None
    assert denial.code == "tool.scope_not_granted"
    assert "crm:write" in denial.message

    grant = Grant(tool="crm.update", scopes=["crm:write"])
    denial = authorize(definition(), grant, tenant_id="acme", caller_scopes=[], caller_roles=[])
    assert denial is not None
    assert denial.code == "tool.scope_missing"
    assert denial.details == {"missing_scopes": ["crm:write"]}


def test_roles_restrict_when_the_grant_names_them() -> None:
    grant = Grant(tool="crm.update", scopes=["crm:write"], roles=["agent-ops"])
    kwargs = {"tenant_id": "acme", "caller_scopes": ["crm:write"]}
    denied = authorize(definition(), grant, caller_roles=["viewer"], **kwargs)  # type: ignore[arg-type]
    assert denied is not None
    assert denied.code == "tool.role_missing"
    assert "agent-ops" in denied.message
    assert authorize(definition(), grant, caller_roles=["agent-ops"], **kwargs) is None  # type: ignore[arg-type]


def test_approval_must_match_the_exact_arguments() -> None:
    tool = definition(needs_approval=True)
    args = {"amount": 10, "to": "x"}
    good = arguments_sha256(args)
    other = arguments_sha256({"amount": 1000, "to": "x"})
    missing = check_approval(tool, args, claimed_hash=None, approved_hash=None, approved=False)
    assert missing is not None
    assert missing.code == "tool.approval_missing"
    rejected = check_approval(tool, args, claimed_hash=good, approved_hash=good, approved=False)
    assert rejected is not None
    assert rejected.code == "tool.approval_not_granted"
    for claimed, approved in ((other, other), (good, other), (other, good)):
        mismatch = check_approval(
            tool, args, claimed_hash=claimed, approved_hash=approved, approved=True
        )
        assert mismatch is not None
        assert mismatch.code == "tool.approval_mismatch"
    assert check_approval(tool, args, claimed_hash=good, approved_hash=good, approved=True) is None
    assert (
        check_approval(definition(), args, claimed_hash=None, approved_hash=None, approved=False)
        is None
    )


def test_arguments_hash_is_canonical() -> None:
    assert arguments_sha256({"b": 1, "a": [1, 2]}) == arguments_sha256({"a": [1, 2], "b": 1})
    assert arguments_sha256({"a": 1}) != arguments_sha256({"a": 2})
    assert arguments_sha256({"a": "é"}).startswith("sha256:")


def test_content_hash_is_stable_and_sensitive() -> None:
    assert definition().content_hash() == definition().content_hash()
    assert definition().content_hash() != definition(timeout_s=3).content_hash()


@pytest.mark.parametrize(
    ("lower", "higher"), [("1", "2"), ("2", "10"), ("1.9", "1.10"), ("1.0", "1.0.1")]
)
def test_versions_sort_numerically(lower: str, higher: str) -> None:
    assert version_key(lower) < version_key(higher)
