"""agentbus guard: pure detection (PII, secrets, prompt injection) and per-tenant policies.

The public API: build one `Guard` per process (it compiles every detector once), load a
policy (`parse_policy` + `CompiledPolicy`, or a `PolicyStore` over a folder), then
`guard.check(content, policy, keys)` returns a `Verdict` whose findings carry no raw
values. Reversible tokens come back as `verdict.vault`; the caller stores them.
"""

from .engine import CompiledPolicy, Guard, GuardFinding, Verdict
from .entities import Category, category_of, kind_of
from .masking import TOKEN_PATTERN, TenantKeys, VaultEntry
from .policies import DEFAULT_POLICY, PolicyNotFoundError, PolicyStore
from .policy import Action, ActionRule, MaskStyle, Policy, PolicyError, parse_policy
from .scanner import Detection

__all__ = [
    "DEFAULT_POLICY",
    "TOKEN_PATTERN",
    "Action",
    "ActionRule",
    "Category",
    "CompiledPolicy",
    "Detection",
    "Guard",
    "GuardFinding",
    "MaskStyle",
    "Policy",
    "PolicyError",
    "PolicyNotFoundError",
    "PolicyStore",
    "TenantKeys",
    "VaultEntry",
    "Verdict",
    "category_of",
    "kind_of",
    "parse_policy",
]
