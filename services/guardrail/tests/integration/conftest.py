"""Integration tests need the real broker and databases (agentbus.testing plugin)."""

from __future__ import annotations

import pytest

from agentbus.guard import Guard


@pytest.fixture(scope="session")
def guard() -> Guard:
    """Detectors compiled once for the whole session (as one process would)."""
    return Guard()
