"""The vault repository: tenant-scoped, idempotent writes of encrypted tokens."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from agentbus.guard import VaultEntry
from agentbus.storage import TenantRepository, UnitOfWork
from agentbus.storage.tables import utcnow

from .tables import VaultRow
from .vault import Sealed, VaultCipher

__all__ = ["VaultRepository"]


class VaultRepository(TenantRepository[VaultRow]):
    """One tenant's tokens; values go in encrypted and come out only through `restore`."""

    model = VaultRow

    def __init__(self, uow: UnitOfWork, cipher: VaultCipher) -> None:
        super().__init__(uow)
        self.cipher = cipher

    async def store(self, entries: Iterable[VaultEntry]) -> int:
        """Insert new tokens; a token already stored (same value, same tenant) is kept."""
        rows, now = [], utcnow()
        for entry in {e.token: e for e in entries}.values():
            sealed = self.cipher.seal(self.tenant_id, entry.token, entry.value)
            rows.append(
                {
                    "tenant_id": self.tenant_id,
                    "token": entry.token,
                    "entity": entry.entity,
                    "nonce": sealed.nonce,
                    "ciphertext": sealed.ciphertext,
                    "created_at": now,
                }
            )
        if not rows:
            return 0
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # Tokens are deterministic, so replicas and redeliveries race to write the same
        # row: ON CONFLICT DO NOTHING makes that a no-op rather than an aborted transaction.
        statement = insert(VaultRow).values(rows).on_conflict_do_nothing()
        await self.session.exec(statement)
        return len(rows)

    async def restore(self, tokens: Sequence[str]) -> dict[str, str]:
        """The values of the tokens this tenant holds (others are simply absent)."""
        if not tokens:
            return {}
        found = await self.find(col(VaultRow.token).in_(sorted(set(tokens))))
        return {
            row.token: self.cipher.open(
                self.tenant_id, row.token, Sealed(row.nonce, row.ciphertext)
            )
            for row in found
        }
