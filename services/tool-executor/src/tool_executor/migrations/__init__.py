"""Alembic migrations of the tool-executor's tables (branch `tool-executor`)."""
