"""The guardrail's token vault.

Revision ID: guardrail_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "guardrail_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("guardrail",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the vault."""
    op.create_table(
        "guardrail_vault",
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "token"),
    )


def downgrade() -> None:
    """Drop the vault."""
    op.drop_table("guardrail_vault")
