"""The planner's definitions, runs, tasks, and drafting jobs (timers are the bus's).

Revision ID: planner_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "planner_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("planner",)
depends_on: str | Sequence[str] | None = None


def _when(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create the planner's tables."""
    op.create_table(
        "planner_definitions",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("reviewer", sa.String(255), nullable=True),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "name", "version"),
    )
    op.create_index("ix_planner_definitions_status", "planner_definitions", ["status"])
    op.create_table(
        "planner_runs",
        sa.Column("run_id", sa.String(255), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("task_id", sa.String(255), nullable=False),
        sa.Column("workflow_name", sa.String(128), nullable=False),
        sa.Column("workflow_version", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("parent_run_id", sa.String(255), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("ix_planner_runs_tenant_status", "planner_runs", ["tenant_id", "status"])
    op.create_index(
        "ix_planner_runs_tenant_workflow", "planner_runs", ["tenant_id", "workflow_name"]
    )
    op.create_table(
        "planner_tasks",
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("task_id", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "task_id"),
    )
    op.create_table(
        "planner_draft_jobs",
        sa.Column("job_id", sa.String(255), primary_key=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_index("ix_planner_draft_jobs_tenant_id", "planner_draft_jobs", ["tenant_id"])


def downgrade() -> None:
    """Drop the planner's tables."""
    for table in (
        "planner_draft_jobs",
        "planner_tasks",
        "planner_runs",
        "planner_definitions",
    ):
        op.drop_table(table)
