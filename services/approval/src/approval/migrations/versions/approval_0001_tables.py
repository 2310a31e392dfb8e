"""The approval service's tables: requests, votes, delegations, webhook deliveries.

Revision ID: approval_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "approval_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("approval",)
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "approval_delegations",
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("delegator", sa.String(length=256), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("delegate", sa.String(length=256), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("approval_id", "delegator"),
    )
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("payload_sha256", sa.String(length=71), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("rejections_needed", sa.Integer(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("escalation_roles", sa.JSON(), nullable=False),
        sa.Column("on_expiry", sa.String(length=16), nullable=False),
        sa.Column("escalation_window_s", sa.Float(), nullable=False),
        sa.Column("escalation_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by_kind", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "request_id", name="uq_approval_request"),
    )
    op.create_index(
        "ix_approval_pending",
        "approval_requests",
        ["tenant_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_approval_requests_run_id"), "approval_requests", ["run_id"], unique=False
    )
    op.create_table(
        "approval_votes",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("approval_id", sa.String(length=64), nullable=False),
        sa.Column("voter", sa.String(length=256), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("payload_sha256", sa.String(length=71), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("approval_id", "voter", name="uq_approval_vote"),
    )
    op.create_index(
        op.f("ix_approval_votes_approval_id"), "approval_votes", ["approval_id"], unique=False
    )
    op.create_table(
        "approval_webhooks",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("given_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_approval_webhooks_due",
        "approval_webhooks",
        ["delivered_at", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the tables."""

    op.drop_index("ix_approval_webhooks_due", table_name="approval_webhooks")
    op.drop_table("approval_webhooks")
    op.drop_index(op.f("ix_approval_votes_approval_id"), table_name="approval_votes")
    op.drop_table("approval_votes")
    op.drop_index(op.f("ix_approval_requests_run_id"), table_name="approval_requests")
    op.drop_index("ix_approval_pending", table_name="approval_requests")
    op.drop_table("approval_requests")
    op.drop_table("approval_delegations")
