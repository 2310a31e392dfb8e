"""The executor answers tool.requests and only watches the approval service's topics."""

from __future__ import annotations

from pathlib import Path

from tool_executor.app import create_app
from tool_executor.settings import ToolExecutorSettings

from contracts.topics import topic


def test_every_catalogued_type_of_the_approval_topics_is_taken_and_none_answered(
    tmp_path: Path,
) -> None:
    settings = ToolExecutorSettings(bus={"database_url": f"sqlite:///{tmp_path / 'te.db'}"})
    routes = create_app(settings).bus.routes  # nothing connects before start
    for name in ("approval.requests", "approval.decisions"):
        # Deadline timers, withdrawals and failed replies ride on these topics too: a type
        # without a route would be dead-lettered by the executor on every approval.
        assert set(routes.of(name)) == set(topic(name).event_types)
        assert routes.reply_topic(name) is None  # the approval service answers there
    assert routes.reply_topic("tool.requests") == "tool.results"
