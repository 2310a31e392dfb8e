"""Alembic revisions of the audit tables (branch `audit`)."""

from pathlib import Path

__all__ = ["VERSIONS"]

VERSIONS = Path(__file__).resolve().parent / "versions"
