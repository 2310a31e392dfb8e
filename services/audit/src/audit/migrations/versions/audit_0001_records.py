"""Audit records, chain heads and checkpoints; triggers make records append-only.

Revision ID: audit_0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "audit_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("audit",)
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_APPEND_ONLY = ("audit_records", "audit_checkpoints")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    """Create the tables and the triggers that refuse UPDATE, DELETE (and TRUNCATE)."""
    op.create_table(
        "audit_records",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("step_id", sa.String(128), nullable=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )
    op.create_index(
        "ux_audit_records_tenant_seq", "audit_records", ["tenant_id", "seq"], unique=True
    )
    op.create_index(
        "ux_audit_records_tenant_event", "audit_records", ["tenant_id", "event_id"], unique=True
    )
    op.create_index("ix_audit_records_tenant_run", "audit_records", ["tenant_id", "run_id", "seq"])
    op.create_index("ix_audit_records_tenant_time", "audit_records", ["tenant_id", "occurred_at"])
    op.create_table(
        "audit_chain_heads",
        sa.Column("tenant_id", sa.String(255), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tenant_id", sa.String(255), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("as_of", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )
    else:
        for table in _APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: {verb} refused'); END"
                )


def downgrade() -> None:
    """Refused: an audit trail is never dropped by a migration."""
    raise RuntimeError("the audit trail cannot be downgraded; restore from a backup instead")
