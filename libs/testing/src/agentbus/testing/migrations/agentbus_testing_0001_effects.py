"""The test effect table.

Revision ID: agentbus_testing_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "agentbus_testing_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("agentbus_testing",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create agentbus_test_effects."""
    op.create_table(
        "agentbus_test_effects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
    )
    op.create_index("ix_agentbus_test_effects_event_id", "agentbus_test_effects", ["event_id"])


def downgrade() -> None:
    """Drop agentbus_test_effects."""
    op.drop_table("agentbus_test_effects")
