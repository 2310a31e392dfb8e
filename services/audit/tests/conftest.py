"""Fixtures for the audit tests."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from agentbus.testing import unique

from .support import audit_topic_named

# Hypothesis keeps caches in ./.hypothesis by default: keep the working tree clean.
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "agentbus-audit-hypothesis"))


@pytest.fixture
def audit_topic(kafka_bootstrap: str) -> Callable[..., Coroutine[Any, Any, str]]:
    """Make a fresh topic (3 partitions by default) and return its name."""

    async def make(partitions: int = 3) -> str:
        return await audit_topic_named(kafka_bootstrap, unique("audit-log"), partitions)

    return make
