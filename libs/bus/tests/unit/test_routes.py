"""Routes: which handler takes an event type, and where failed replies of a topic go."""

from __future__ import annotations

from typing import Any

from agentbus.bus.routes import Route, Routes


async def handle(envelope: Any, uow: Any) -> None:
    """A short handler (never called here)."""


def test_a_request_topic_answers_on_its_catalogued_reply_topic() -> None:
    routes = Routes()
    routes.add("tool.requests", None, Route("", short=handle))
    assert routes.reply_topic("tool.requests") == "tool.results"


def test_a_service_that_only_watches_a_request_topic_sends_no_failed_reply() -> None:
    # The tool-executor watches approval.requests, which the approval service answers: a
    # record it dead-letters must not get a second failed reply, from the wrong service.
    routes = Routes()
    requested = ["agentbus.approval.requested.v1"]
    routes.add("approval.requests", requested, Route("", short=handle), replies=False)
    others = ["agentbus.approval.cancel_requested.v1", "agentbus.approval.deadline_reached.v1"]
    routes.add("approval.requests", others, Route(""))  # ignored: skipped, never dead-lettered
    assert routes.reply_topic("approval.requests") is None
    assert set(routes.of("approval.requests")) == {*requested, *others}
