"""Fixtures for the audit tests."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from agentbus.testing import unique

from .support import audit_topic_named


@pytest.fixture
def audit_topic(kafka_bootstrap: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """Make a fresh topic (3 partitions by default) and return its name."""

    async def make(partitions: int = 3) -> str:
        return await audit_topic_named(kafka_bootstrap, unique("audit-log"), partitions)

    return make
