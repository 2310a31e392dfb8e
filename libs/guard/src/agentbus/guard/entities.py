"""The entity catalogue: Presidio-style names, their category and the contract `kind`."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Category", "category_of", "kind_of"]


class Category(StrEnum):
    """Families of findings; a policy can set one action for a whole family."""

    PII = "pii"
    SECRET = "secret"
    INJECTION = "injection"
    CONTENT = "content"


_SECRETS = frozenset(
    {
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "GITHUB_TOKEN",
        "SLACK_TOKEN",
        "SLACK_WEBHOOK",
        "STRIPE_KEY",
        "OPENAI_API_KEY",
        "GOOGLE_API_KEY",
        "BEARER_TOKEN",
        "PRIVATE_KEY",
        "JWT",
        "CONNECTION_STRING",
        "GENERIC_SECRET",
        "HIGH_ENTROPY_STRING",
    }
)
_CONTENT = frozenset({"DENIED_TERM", "DENIED_TOPIC", "SIZE_LIMIT", "OUTPUT_SCHEMA"})


def category_of(entity: str) -> Category:
    """The family of an entity name (anything unknown and not injection is PII)."""
    if entity in _SECRETS:
        return Category.SECRET
    if entity in _CONTENT:
        return Category.CONTENT
    if entity.startswith("INJECTION_"):
        return Category.INJECTION
    return Category.PII


def kind_of(entity: str) -> str:
    """The contract's lowercase dotted kind, e.g. CREDIT_CARD -> pii.credit_card."""
    category = category_of(entity)
    name = entity.lower()
    if category is Category.INJECTION:
        name = name.removeprefix("injection_")
    return f"{category.value}.{name}"
