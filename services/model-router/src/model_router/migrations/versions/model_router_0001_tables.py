"""The model-router's tables: budgets, reservations, rate windows, cache, call ledger.

Revision ID: model_router_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "model_router_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("model-router",)
depends_on: str | Sequence[str] | None = None


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(255), nullable=False)


def upgrade() -> None:
    """Create the five tables."""
    op.create_table(
        "router_budget_counter",
        _tenant(),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("usd_spent_nanos", sa.BigInteger(), nullable=False),
        sa.Column("usd_reserved_nanos", sa.BigInteger(), nullable=False),
        sa.Column("tokens_spent", sa.BigInteger(), nullable=False),
        sa.Column("tokens_reserved", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "period"),
    )
    op.create_table(
        "router_reservation",
        _tenant(),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("day", sa.String(16), nullable=False),
        sa.Column("month", sa.String(16), nullable=False),
        sa.Column("usd_nanos", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "request_id"),
    )
    op.create_index("ix_router_reservation_state", "router_reservation", ["state"])
    op.create_table(
        "router_rate_window",
        _tenant(),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "window_start"),
    )
    op.create_table(
        "router_cache",
        _tenant(),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key"),
    )
    op.create_table(
        "router_call",
        _tenant(),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("deployment_id", sa.String(128), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("usage_estimated", sa.Boolean(), nullable=False),
        sa.Column("cost_usd", sa.String(40), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "request_id"),
    )


def downgrade() -> None:
    """Drop them."""
    for table in (
        "router_call",
        "router_cache",
        "router_rate_window",
        "router_reservation",
        "router_budget_counter",
    ):
        op.drop_table(table)
