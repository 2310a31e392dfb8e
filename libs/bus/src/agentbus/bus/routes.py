"""Which handler takes which event type on which topic: one handler per (topic, type)."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.topics import REPLY_TOPICS, topic

from .processor import Route

__all__ = ["DuplicateHandlerError", "Routes"]


class DuplicateHandlerError(ValueError):
    """A second handler was registered for a (topic, event type) that already has one."""


class Routes:
    """The dispatch table of one bus, filled by registration before it starts."""

    def __init__(self) -> None:
        self._by_topic: dict[str, dict[str, Route]] = {}
        self._replies: dict[str, str | None] = {}

    def add(
        self,
        topic_name: str,
        event_types: Iterable[str] | None,
        route: Route,
        *,
        reply_topic: str | None = None,
        replies: bool = True,
    ) -> None:
        """Register `route` for each accepted event type; DuplicateHandlerError if taken.

        `replies=False`: this service only watches the topic (another one answers its
        requests), so a request it dead-letters gets no failed reply from it. A route
        without a handler (an ignored type) says nothing about replies either.
        """
        types = frozenset(event_types) if event_types is not None else _catalogued(topic_name)
        if not types:
            raise ValueError(f"no event types given for {topic_name!r}")
        table = self._by_topic.setdefault(topic_name, {})
        taken = sorted(types & table.keys())
        if taken:
            raise DuplicateHandlerError(
                f"{topic_name!r} already has a handler for {', '.join(taken)}; "
                "one handler per topic and event type"
            )
        for event_type in types:
            table[event_type] = Route(event_type, short=route.short, io=route.io, when=route.when)
        if not replies or (route.short is None and route.io is None):
            return
        reply = reply_topic or REPLY_TOPICS.get(topic_name)
        if self._replies.get(topic_name) not in (None, reply):
            raise ValueError(f"{topic_name!r} is registered with two reply topics")
        self._replies[topic_name] = reply

    def topics(self) -> list[str]:
        """Topics with at least one handler, in registration order."""
        return list(self._by_topic)

    def of(self, topic_name: str) -> dict[str, Route]:
        """Event type -> route on `topic_name`."""
        return self._by_topic[topic_name]

    def reply_topic(self, topic_name: str) -> str | None:
        """Where failed replies for dead-lettered requests of `topic_name` go, if anywhere."""
        return self._replies.get(topic_name)


def _catalogued(topic_name: str) -> frozenset[str]:
    try:
        return frozenset(topic(topic_name).event_types)
    except KeyError:
        raise ValueError(
            f"{topic_name!r} is not in the topic catalogue: pass event_types explicitly"
        ) from None
