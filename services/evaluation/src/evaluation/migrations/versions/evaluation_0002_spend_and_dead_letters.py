"""spend: every metered model call of a tenant, the period of a budget alert's state, dead letters

Revision ID: evaluation_0002
Revises: evaluation_0001
Create Date: 2026-11-21 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "evaluation_0002"
down_revision: str | Sequence[str] | None = "evaluation_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "evaluation_spend",
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=18, scale=8), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("evaluation_spend", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_spend_tenant_id"), ["tenant_id"])
        batch_op.create_index(batch_op.f("ix_evaluation_spend_day"), ["day"])
    with op.batch_alter_table("evaluation_alert_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period", sa.String(length=10), nullable=True))
    op.create_table(
        "evaluation_dead_letters",
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.String(length=256), nullable=True),
        sa.Column("workflow", sa.String(length=128), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("original_topic", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=True),
        sa.Column("error_class", sa.String(length=255), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", "offset"),
    )
    with op.batch_alter_table("evaluation_dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_dead_letters_tenant_id"), ["tenant_id"])
        batch_op.create_index(batch_op.f("ix_evaluation_dead_letters_run_id"), ["run_id"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("evaluation_dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_dead_letters_run_id"))
        batch_op.drop_index(batch_op.f("ix_evaluation_dead_letters_tenant_id"))
    op.drop_table("evaluation_dead_letters")
    with op.batch_alter_table("evaluation_alert_state", schema=None) as batch_op:
        batch_op.drop_column("period")
    with op.batch_alter_table("evaluation_spend", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_spend_day"))
        batch_op.drop_index(batch_op.f("ix_evaluation_spend_tenant_id"))
    op.drop_table("evaluation_spend")
