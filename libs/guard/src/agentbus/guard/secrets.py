"""Validators for secret candidates: embedded checksums, decodable structure, entropy."""

from __future__ import annotations

import base64
import binascii
import json
import math
import zlib
from collections import Counter

__all__ = [
    "entropy",
    "valid_bearer",
    "valid_connection_password",
    "valid_generic_secret",
    "valid_github_token",
    "valid_high_entropy",
    "valid_jwt",
]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PLACEHOLDERS = frozenset(
    {"password", "passwd", "changeme", "secret", "example", "xxxxxxxx", "redacted", "********"}
)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    counts = Counter(value)
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def _base62(number: int, width: int) -> str:
    out = []
    while number:
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out)).rjust(width, "0")


def valid_github_token(candidate: str) -> float | None:
    """gh?_ tokens end in a base62 CRC32 of their random part (GitHub's 2021 format)."""
    _, _, body = candidate.partition("_")
    if len(body) != 36:
        return None
    expected = _base62(zlib.crc32(body[:30].encode()), 6)
    return 1.0 if body[30:] == expected else None


def _b64url_json(part: str) -> object:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def valid_jwt(candidate: str) -> float | None:
    """Header and claims decode to JSON objects and the header names an algorithm."""
    parts = candidate.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if isinstance(header, dict) and "alg" in header and isinstance(claims, dict):
        return 1.0
    return None


def _placeholder(value: str) -> bool:
    lowered = value.lower().strip("'\"")
    return (
        lowered in _PLACEHOLDERS
        or lowered.startswith(("${", "{{", "<", "%(", "$("))
        or len(set(lowered)) <= 2
    )


def valid_connection_password(candidate: str) -> float | None:
    """A URL whose password part is present and not a placeholder."""
    userinfo = candidate.split("://", 1)[-1].rsplit("@", 1)[0]
    _, _, password = userinfo.partition(":")
    if not password or _placeholder(password):
        return None
    return 1.0


def valid_generic_secret(candidate: str) -> float | None:
    """An assigned credential that is not a placeholder and is not plain prose."""
    if _placeholder(candidate) or entropy(candidate) < 2.5:
        return None
    return 0.8


def valid_bearer(candidate: str) -> float | None:
    """A bearer credential with enough entropy to be a real token."""
    return 1.0 if entropy(candidate) >= 3.5 and not _placeholder(candidate) else None


def valid_high_entropy(candidate: str) -> float | None:
    """Random-looking base64/hex runs (detect-secrets' thresholds, stricter for hex)."""
    stripped = candidate.rstrip("=")
    classes = sum(
        (
            any(c.isupper() for c in stripped),
            any(c.islower() for c in stripped),
            any(c.isdigit() for c in stripped),
        )
    )
    if all(c in "0123456789abcdefABCDEF" for c in stripped):
        # Hex runs are mostly hashes and commit ids: low score unless context says "key".
        return 0.4 if entropy(stripped) >= 3.0 and len(stripped) >= 32 else None
    if classes == 3 and entropy(stripped) >= 4.2:
        return 0.7
    return None
