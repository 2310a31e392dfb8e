"""The bus's inbox and outbox.

Revision ID: agentbus_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "agentbus_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("agentbus",)
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the inbox and outbox, adopting tables an older release made with create_all."""
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "agentbus_inbox" not in existing:
        op.create_table(
            "agentbus_inbox",
            sa.Column("consumer_group", sa.String(255), nullable=False),
            sa.Column("event_id", sa.String(255), nullable=False),
            sa.Column("tenant_id", sa.String(255), nullable=False),
            sa.Column("topic", sa.String(255), nullable=False),
            sa.Column("partition", sa.Integer(), nullable=False),
            sa.Column("offset", sa.BigInteger(), nullable=False),
            sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("consumer_group", "event_id"),
        )
        op.create_index("ix_agentbus_inbox_tenant_id", "agentbus_inbox", ["tenant_id"])
    if "agentbus_outbox" not in existing:
        op.create_table(
            "agentbus_outbox",
            sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
            sa.Column("event_id", sa.String(255), nullable=False, unique=True),
            sa.Column("tenant_id", sa.String(255), nullable=False),
            sa.Column("topic", sa.String(255), nullable=False),
            sa.Column("key", sa.LargeBinary(), nullable=False),
            sa.Column("value", sa.LargeBinary(), nullable=False),
            sa.Column("headers", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        )
        op.create_index("ix_agentbus_outbox_tenant_id", "agentbus_outbox", ["tenant_id"])
        op.create_index("ix_agentbus_outbox_pending", "agentbus_outbox", ["published_at", "id"])


def downgrade() -> None:
    """Drop the inbox and outbox."""
    op.drop_table("agentbus_outbox")
    op.drop_table("agentbus_inbox")
