"""Shared event contracts of agentbus: one frozen pydantic model per event type."""

from __future__ import annotations

__all__: list[str] = []
