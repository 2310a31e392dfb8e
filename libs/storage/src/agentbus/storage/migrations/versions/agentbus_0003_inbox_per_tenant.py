"""The inbox key names the tenant: one tenant's event id never hides another's event.

Revision ID: agentbus_0003
Revises: agentbus_0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "agentbus_0003"
down_revision: str | Sequence[str] | None = "agentbus_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ["consumer_group", "event_id", "tenant_id"]


def upgrade() -> None:
    """Primary key (consumer_group, event_id) -> (consumer_group, event_id, tenant_id).

    Event ids are chosen by producers, and many are deterministic: keyed by group and id
    alone, a record of tenant B carrying an id of tenant A's made A's record a duplicate.
    """
    _replace_primary_key(_COLUMNS)


def downgrade() -> None:
    """Back to (consumer_group, event_id): fails if two tenants share an event id."""
    _replace_primary_key(_COLUMNS[:2])


def _replace_primary_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("agentbus_inbox_pkey", "agentbus_inbox", type_="primary")
        op.create_primary_key("agentbus_inbox_pkey", "agentbus_inbox", columns)
        return
    # SQLite cannot alter a key: copy the rows into a table with the new one.
    op.drop_index("ix_agentbus_inbox_tenant_id", table_name="agentbus_inbox")
    op.rename_table("agentbus_inbox", "agentbus_inbox_old")
    op.create_table(
        "agentbus_inbox",
        sa.Column("consumer_group", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*columns),
    )
    names = 'consumer_group, event_id, tenant_id, topic, partition, "offset", handled_at'
    op.execute(f"INSERT INTO agentbus_inbox ({names}) SELECT {names} FROM agentbus_inbox_old")
    op.drop_table("agentbus_inbox_old")
    op.create_index("ix_agentbus_inbox_tenant_id", "agentbus_inbox", ["tenant_id"])
