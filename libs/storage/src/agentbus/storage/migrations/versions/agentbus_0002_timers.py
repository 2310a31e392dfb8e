"""Durable timers.

Revision ID: agentbus_0002
Revises: agentbus_0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "agentbus_0002"
down_revision: str | Sequence[str] | None = "agentbus_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING = sa.text("fired_at IS NULL AND cancelled_at IS NULL")


def upgrade() -> None:
    """Create agentbus_timers with a partial index over pending timers by due time."""
    op.create_table(
        "agentbus_timers",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("timer_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant_id", "timer_id", name="uq_agentbus_timers_tenant_timer"),
    )
    op.create_index(
        "ix_agentbus_timers_due",
        "agentbus_timers",
        ["fire_at", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    """Drop agentbus_timers."""
    op.drop_table("agentbus_timers")
