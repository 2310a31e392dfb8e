"""Masking styles: type label, partial, salted hash, and reversible per-tenant tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .policy import MaskStyle

__all__ = ["TOKEN_PATTERN", "Replacement", "TenantKeys", "VaultEntry", "apply_masks", "mask_value"]

TOKEN_PATTERN = re.compile(r"\{\{tok:([A-Z0-9_]+):([0-9a-f]{32})\}\}")


@dataclass(frozen=True, slots=True)
class TenantKeys:
    """A tenant's secrets for masking: a salt for hashes, a key that derives tokens."""

    hash_salt: bytes
    token_key: bytes


@dataclass(frozen=True, slots=True)
class VaultEntry:
    """A token and the value it stands for; the caller stores it encrypted, per tenant."""

    token: str
    entity: str
    value: str

    def __repr__(self) -> str:  # never print the value, even by accident
        return f"VaultEntry(token={self.token!r}, entity={self.entity!r})"


@dataclass(frozen=True, slots=True)
class Replacement:
    """One span of a string to replace."""

    start: int
    end: int
    entity: str
    style: MaskStyle


def _partial(entity: str, value: str) -> str:
    if entity == "EMAIL_ADDRESS" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    keep = 4 if sum(c.isalnum() for c in value) > 8 else 0
    seen = 0
    out = []
    total = sum(c.isalnum() for c in value)
    for char in value:
        if char.isalnum():
            seen += 1
            out.append(char if seen > total - keep else "*")
        else:
            out.append(char)
    return "".join(out)


def _digest(key: bytes, entity: str, value: str) -> str:
    return hmac.new(key, f"{entity}\0{value}".encode(), hashlib.sha256).hexdigest()


def mask_value(
    entity: str, value: str, style: MaskStyle, keys: TenantKeys
) -> tuple[str, VaultEntry | None]:
    """The replacement text for `value`, and a vault entry when the style is reversible."""
    if style is MaskStyle.LABEL:
        return f"<{entity}>", None
    if style is MaskStyle.PARTIAL:
        return _partial(entity, value), None
    if style is MaskStyle.HASH:
        return f"<{entity}:{_digest(keys.hash_salt, entity, value)[:16]}>", None
    # Deterministic per tenant: the same value gets the same token, so a redelivered
    # request writes the same vault row and tokens can be joined across steps.
    token = f"{{{{tok:{entity}:{_digest(keys.token_key, entity, value)[:32]}}}}}"
    return token, VaultEntry(token, entity, value)


def apply_masks(
    text: str, replacements: Sequence[Replacement], keys: TenantKeys
) -> tuple[str, list[VaultEntry]]:
    """`text` with every span replaced, and the new vault entries.

    Overlapping spans (one value seen as two entities) are merged into one replacement,
    labelled by the longest of them, so no tail of a value survives.
    """
    merged: list[Replacement] = []
    for item in sorted(replacements, key=lambda r: (r.start, r.start - r.end)):
        if merged and item.start < merged[-1].end:
            last = merged[-1]
            if item.end > last.end:
                longest = item if item.end - item.start > last.end - last.start else last
                merged[-1] = Replacement(last.start, item.end, longest.entity, longest.style)
            continue
        merged.append(item)
    out: list[str] = []
    vault: list[VaultEntry] = []
    cursor = 0
    for item in merged:
        out.append(text[cursor : item.start])
        masked, entry = mask_value(item.entity, text[item.start : item.end], item.style, keys)
        out.append(masked)
        if entry is not None:
            vault.append(entry)
        cursor = item.end
    out.append(text[cursor:])
    return "".join(out), vault
