"""Alembic revisions of the model-router's tables (branch `model-router`)."""

from pathlib import Path

__all__ = ["VERSIONS"]

VERSIONS = Path(__file__).resolve().parent / "versions"
