"""Ed25519 checkpoints: sign a tenant's chain head, verify it with the public key."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .canonical import canonical_json
from .chain import Checkpoint

__all__ = [
    "CheckpointSigner",
    "CheckpointVerifier",
    "checkpoint_message",
    "generate_private_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_text",
]


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable id of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (what settings and the CLI take)."""
    return base64.b64encode(_raw(public_key)).decode()


def generate_private_key() -> str:
    """A new private key as base64 of its 32-byte seed."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(seed).decode()


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A private key from base64 of its 32-byte seed."""
    seed = base64.b64decode(text.strip(), validate=True)
    if len(seed) != 32:
        raise ValueError("an Ed25519 private key is 32 bytes (base64 of the seed)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from base64 of its 32 raw bytes, or from a file holding that text."""
    candidate = Path(text)
    if len(text) < 4096 and candidate.is_file():
        text = candidate.read_text()
    raw = base64.b64decode(text.strip(), validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (base64)")
    return Ed25519PublicKey.from_public_bytes(raw)


def checkpoint_message(tenant_id: str, seq: int, head_hash: str, as_of: str) -> bytes:
    """The exact bytes a checkpoint signs: JCS of its statement, domain-separated."""
    statement = {
        "as_of": as_of,
        "hash": head_hash,
        "seq": seq,
        "tenant_id": tenant_id,
        "type": "agentbus.audit.checkpoint.v1",
    }
    return canonical_json(statement)


class CheckpointSigner:
    """Signs chain heads with the service's private key (Ed25519 is deterministic)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, tenant_id: str, seq: int, head_hash: str, as_of: str) -> Checkpoint:
        """A checkpoint for the head (`seq`, `head_hash`) of `tenant_id`'s chain."""
        signature = self._key.sign(checkpoint_message(tenant_id, seq, head_hash, as_of))
        return Checkpoint(
            tenant_id, seq, head_hash, self.key_id, base64.b64encode(signature).decode(), as_of
        )


class CheckpointVerifier:
    """Accepts only checkpoints signed by one trusted public key."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self.public_key = public_key
        self.key_id = key_id(public_key)

    def __call__(self, checkpoint: Checkpoint) -> bool:
        """True when `checkpoint`'s signature verifies with the trusted key."""
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
            message = checkpoint_message(
                checkpoint.tenant_id, checkpoint.seq, checkpoint.hash, checkpoint.as_of
            )
            self.public_key.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True
