"""Alembic environment for agentbus: everything comes from `config.attributes`, no ini file."""

from __future__ import annotations

from typing import Any

from alembic import context

from agentbus.storage.migrations.runner import VERSION_TABLE

config = context.config
connection = config.attributes["connection"]
target_metadata = config.attributes.get("target_metadata")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, _other: Any) -> bool:
    """Autogenerate compares only the target metadata's tables, never another branch's."""
    if type_ == "table" and reflected and target_metadata is not None:
        return name in target_metadata.tables
    return True


context.configure(
    connection=connection,
    target_metadata=target_metadata,
    include_object=include_object,
    version_table=VERSION_TABLE,
    # Batch operations run on SQLite (table copy) and PostgreSQL (plain ALTER) alike.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
