"""Runs are listed newest first through an index: no sort of the tenant's runs.

Revision ID: planner_0002
Revises: planner_0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "planner_0002"
down_revision: str | Sequence[str] | None = "planner_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW = {
    "ix_planner_runs_tenant_created": ["tenant_id", "created_at"],
    "ix_planner_runs_tenant_status_created": ["tenant_id", "status", "created_at"],
    "ix_planner_runs_tenant_workflow_created": ["tenant_id", "workflow_name", "created_at"],
}
_OLD = {
    "ix_planner_runs_tenant_status": ["tenant_id", "status"],
    "ix_planner_runs_tenant_workflow": ["tenant_id", "workflow_name"],
}


def upgrade() -> None:
    for name, columns in _NEW.items():
        op.create_index(name, "planner_runs", columns)
    for name in _OLD:
        op.drop_index(name, table_name="planner_runs")


def downgrade() -> None:
    for name, columns in _OLD.items():
        op.create_index(name, "planner_runs", columns)
    for name in _NEW:
        op.drop_index(name, table_name="planner_runs")
