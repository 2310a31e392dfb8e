"""The inbox is indexed by age: pruning reads old rows, not the whole table.

Revision ID: agentbus_0004
Revises: agentbus_0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "agentbus_0004"
down_revision: str | Sequence[str] | None = "agentbus_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_agentbus_inbox_handled_at", "agentbus_inbox", ["handled_at"])


def downgrade() -> None:
    op.drop_index("ix_agentbus_inbox_handled_at", table_name="agentbus_inbox")
