"""Tool definitions, grants and the decisions taken on them; pure, no I/O."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.events.tool import arguments_sha256, canonical_json

__all__ = [
    "OUTCOME_UNKNOWN",
    "SHARED_TENANT",
    "Denial",
    "Grant",
    "Implementation",
    "SideEffect",
    "ToolDefinition",
    "ToolError",
    "arguments_sha256",
    "at_most_once",
    "authorize",
    "canonical_json",
    "check_approval",
    "outcome_unknown",
]

SHARED_TENANT = "*"
"""Tenant id of definitions every tenant may be granted (files, shared MCP servers)."""


class SideEffect(StrEnum):
    """What a call may change in the world."""

    NONE = "none"
    READ = "read"
    WRITE = "write"


class Implementation(BaseModel):
    """Which code runs a tool: a built-in, a Python entry point, or a tool on an MCP server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["builtin", "plugin", "mcp"]
    name: str = Field(min_length=1, description="built-in name, entry point name or MCP tool")
    server: str | None = Field(default=None, description="MCP server name (settings) for mcp")
    config: dict[str, Any] = Field(
        default_factory=dict, description="fixed configuration, e.g. headers naming secrets"
    )


class ToolDefinition(BaseModel):
    """One version of one tool, as registered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    version: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]*$")
    description: str = ""
    side_effect: SideEffect
    scopes: list[str] = Field(default_factory=list, description="all needed to call the tool")
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    idempotent: bool = False
    needs_approval: bool = False
    arguments_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    result_schema: dict[str, Any] | None = None
    implementation: Implementation

    def content_hash(self) -> str:
        """sha256 of the canonical definition: two loads of the same file agree."""
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


class Grant(BaseModel):
    """What one tenant may do with one tool: scopes it may use, roles that may call it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str = Field(min_length=1, max_length=128)
    scopes: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list, description="empty: any caller role")
    hosts: list[str] = Field(
        default_factory=list, description="egress allow-list for HTTP tools (*.example.com ok)"
    )
    allowed_networks: list[str] = Field(
        default_factory=list, description="CIDRs exempt from the private-address block"
    )


class Denial(BaseModel):
    """Why a call is refused; the message names what is missing."""

    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ToolError(Exception):
    """A tool call that did not produce a result; `retryable` marks transient causes.

    `maybe_applied` marks a failure after the call left (a timeout, a crash, a refused
    result): its effect may have happened, so an at-most-once call is not tried again.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        denied: bool = False,
        maybe_applied: bool = False,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.denied = denied
        self.maybe_applied = maybe_applied
        self.details = details or {}


OUTCOME_UNKNOWN = "tool.outcome_unknown"
"""Error code of an at-most-once call that started and never recorded how it ended."""


def outcome_unknown(key: str, tool: str, why: str) -> ToolError:
    """The classified failure of a call that may or may not have taken effect."""
    return ToolError(
        OUTCOME_UNKNOWN,
        f"the outcome of {tool!r} under idempotency key {key!r} is unknown ({why}); it is not "
        "idempotent, so it is not called again: reconcile it with the tool's system "
        "(tool-executor calls resolve) before retrying",
        details={"idempotency_key": key, "needs_reconciliation": True},
    )


def at_most_once(definition: ToolDefinition, *, forwards_key: bool) -> bool:
    """True for a write that may not run twice: not idempotent, and no key reaches the tool."""
    return definition.side_effect is SideEffect.WRITE and not (
        definition.idempotent or forwards_key
    )


def authorize(
    definition: ToolDefinition,
    grant: Grant | None,
    *,
    tenant_id: str,
    caller_scopes: list[str],
    caller_roles: list[str],
) -> Denial | None:
    """Deny by default: the tenant needs a grant, and grant and caller need every scope."""
    name = definition.name
    if grant is None:
        return Denial(
            code="tool.grant_missing",
            message=f"tenant {tenant_id!r} has no grant for tool {name!r}",
            details={"missing_grant": name},
        )
    needed = set(definition.scopes)
    missing_in_grant = sorted(needed - set(grant.scopes))
    if missing_in_grant:
        return Denial(
            code="tool.scope_not_granted",
            message=f"the grant of tool {name!r} lacks scope(s): {', '.join(missing_in_grant)}",
            details={"missing_scopes": missing_in_grant},
        )
    missing_in_caller = sorted(needed - set(caller_scopes))
    if missing_in_caller:
        return Denial(
            code="tool.scope_missing",
            message=f"the caller lacks scope(s) for tool {name!r}: {', '.join(missing_in_caller)}",
            details={"missing_scopes": missing_in_caller},
        )
    if grant.roles and not set(grant.roles) & set(caller_roles):
        return Denial(
            code="tool.role_missing",
            message=f"tool {name!r} needs one of the roles: {', '.join(sorted(grant.roles))}",
            details={"required_roles": sorted(grant.roles)},
        )
    return None


def check_approval(
    definition: ToolDefinition,
    arguments: dict[str, Any],
    *,
    claimed_hash: str | None,
    approved_hash: str | None,
    approved: bool,
) -> Denial | None:
    """A tool that needs approval runs only under an approval bound to these exact arguments."""
    if not definition.needs_approval:
        return None
    actual = arguments_sha256(arguments)
    if claimed_hash is None:
        return Denial(
            code="tool.approval_missing",
            message=f"tool {definition.name!r} needs an approval and the request carries none",
            details={"arguments_sha256": actual},
        )
    if not approved:
        return Denial(
            code="tool.approval_not_granted",
            message="the approval the request names was not approved",
        )
    if claimed_hash != actual or approved_hash != actual:
        return Denial(
            code="tool.approval_mismatch",
            message="the approval was given for other arguments than this request's",
            details={"arguments_sha256": actual},
        )
    return None
