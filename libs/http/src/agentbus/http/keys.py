"""API keys: minted with high entropy, stored and compared only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from pathlib import Path

from pydantic import TypeAdapter

from .principal import Principal
from .settings import ApiKeyEntry

__all__ = ["ApiKeyStore", "hash_api_key", "load_api_key_file", "mint_api_key"]

KEY_PREFIX = "abk_"
_ENTRIES = TypeAdapter(list[ApiKeyEntry])


def mint_api_key() -> str:
    """A new random API key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Hex SHA-256 of `key`.

    A plain fast hash is right here, unlike for passwords: keys are 256-bit random
    strings, so there is nothing to brute-force or look up in a dictionary, and a slow
    KDF would only add latency to every request.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def load_api_key_file(path: Path) -> list[ApiKeyEntry]:
    """Entries from a JSON file holding a list of api key objects."""
    return _ENTRIES.validate_python(json.loads(path.read_text()))


class ApiKeyStore:
    """Digest -> principal, built once from settings; keys never kept in the clear."""

    def __init__(self, entries: Iterable[ApiKeyEntry]) -> None:
        self._by_digest: dict[str, Principal] = {}
        for entry in entries:
            if entry.key_sha256 is not None:
                digest = entry.key_sha256
            else:
                assert entry.key is not None  # the validator demands one of the two
                digest = hash_api_key(entry.key.get_secret_value())
            if digest in self._by_digest:
                raise ValueError(f"api key for {entry.subject!r} is listed twice")
            self._by_digest[digest] = Principal(
                tenant_id=entry.tenant,
                subject=entry.subject,
                roles=frozenset(entry.roles),
                kind=entry.kind,
            )

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, key: str) -> Principal | None:
        """The principal of `key`, or None; compares against every digest without early exit."""
        digest = hash_api_key(key).encode()
        found: Principal | None = None
        for stored, principal in self._by_digest.items():
            # Constant-time compare, and no early exit, so timing says nothing about which
            # stored digest shares a prefix with the one presented.
            if hmac.compare_digest(stored.encode(), digest):
                found = principal
        return found
