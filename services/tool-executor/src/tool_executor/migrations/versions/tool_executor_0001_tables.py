"""The tool-executor's registry, grants, idempotency store and approvals.

Revision ID: tool_executor_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tool_executor_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tool-executor",)
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the four tables."""
    op.create_table(
        "tool_definitions",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(71), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        _when("registered_at"),
        sa.PrimaryKeyConstraint("tenant_id", "name", "version"),
    )
    op.create_table(
        "tool_grants",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("tool", sa.String(128), nullable=False),
        sa.Column("grant", sa.JSON(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "tool"),
    )
    op.create_table(
        "tool_calls",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner_event_id", sa.String(255), nullable=False),
        _when("lease_until"),
        sa.Column("tool", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "idempotency_key"),
    )
    op.create_table(
        "tool_approvals",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("approval_id", sa.String(255), nullable=True),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("step_id", sa.String(128), nullable=True),
        sa.Column("tool", sa.String(128), nullable=True),
        sa.Column("arguments_sha256", sa.String(71), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "request_id"),
    )
    op.create_index("ix_tool_approvals_approval_id", "tool_approvals", ["approval_id"])


def downgrade() -> None:
    """Drop the four tables."""
    op.drop_index("ix_tool_approvals_approval_id", table_name="tool_approvals")
    for table in ("tool_approvals", "tool_calls", "tool_grants", "tool_definitions"):
        op.drop_table(table)
