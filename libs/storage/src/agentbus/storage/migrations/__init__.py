"""Alembic migrations for the bus's tables and each service's own, applied at start-up."""

from .runner import BUS_VERSIONS, upgrade

__all__ = ["BUS_VERSIONS", "upgrade"]
