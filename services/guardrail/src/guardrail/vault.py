"""Per-tenant keys derived from one master key; AES-GCM for the token vault."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agentbus.guard import TenantKeys

__all__ = ["Sealed", "VaultCipher", "VaultKeyError"]

_NONCE_BYTES = 12
_SALT = b"agentbus-guardrail-v1"


class VaultKeyError(Exception):
    """A vault entry does not decrypt under this tenant's key (wrong tenant or tampered)."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """An encrypted value: nonce and ciphertext (with its GCM tag)."""

    nonce: bytes
    ciphertext: bytes


class VaultCipher:
    """Derives keys per tenant; seals values so only that tenant's key opens them."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key
        self._derive = lru_cache(maxsize=4096)(self._hkdf)

    def _hkdf(self, purpose: str, tenant_id: str) -> bytes:
        info = f"{purpose}\0{tenant_id}".encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(
            self._master
        )

    def keys(self, tenant_id: str) -> TenantKeys:
        """The tenant's hash salt and token key (for masking)."""
        return TenantKeys(self._derive("hash", tenant_id), self._derive("token", tenant_id))

    def seal(self, tenant_id: str, token: str, value: str) -> Sealed:
        """Encrypt `value`; the tenant and token are bound as associated data."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aead = AESGCM(self._derive("vault", tenant_id))
        return Sealed(nonce, aead.encrypt(nonce, value.encode(), _aad(tenant_id, token)))

    def open(self, tenant_id: str, token: str, sealed: Sealed) -> str:
        """Decrypt; VaultKeyError if the entry is another tenant's or was altered."""
        aead = AESGCM(self._derive("vault", tenant_id))
        try:
            plain = aead.decrypt(sealed.nonce, sealed.ciphertext, _aad(tenant_id, token))
        except InvalidTag as exc:
            raise VaultKeyError("vault entry does not decrypt for this tenant") from exc
        return plain.decode()


def _aad(tenant_id: str, token: str) -> bytes:
    return f"{tenant_id}\0{token}".encode()
