"""Who is calling: a tenant, a subject and its roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Principal", "PrincipalKind"]

PrincipalKind = Literal["user", "service"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller; every query it makes is scoped to `tenant_id`."""

    tenant_id: str
    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    kind: PrincipalKind = "user"

    def has_roles(self, *roles: str) -> bool:
        """True when the principal holds every one of `roles`."""
        return set(roles) <= self.roles
