"""Event type name -> contract model; filled by the @event decorator in contracts.events."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from .base import Event
from .errors import UnknownEventTypeError

__all__ = ["EVENT_TYPE_PATTERN", "all_events", "event", "model_for"]

EVENT_TYPE_PATTERN = re.compile(r"^agentbus\.[a-z][a-z_]*\.[a-z][a-z_]*\.v[1-9][0-9]*$")
_REGISTRY: dict[str, type[Event]] = {}

E = TypeVar("E", bound=type[Event])


def event(event_type: str) -> Callable[[E], E]:
    """Class decorator: name the model's event type and register it once."""

    def register(cls: E) -> E:
        if not EVENT_TYPE_PATTERN.match(event_type):
            raise ValueError(f"{event_type!r} is not agentbus.<domain>.<event>.v<major>")
        if event_type in _REGISTRY and _REGISTRY[event_type] is not cls:
            raise ValueError(f"event type {event_type!r} is registered twice")
        cls.EVENT_TYPE = event_type
        _REGISTRY[event_type] = cls
        return cls

    return register


def all_events() -> dict[str, type[Event]]:
    """Every registered event type, sorted by name."""
    _load()
    return dict(sorted(_REGISTRY.items()))


def model_for(event_type: str) -> type[Event]:
    """The model of `event_type`, or UnknownEventTypeError."""
    _load()
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise UnknownEventTypeError(f"unknown event type {event_type!r}") from None


def _load() -> None:
    # Importing the package registers every model; done lazily to avoid an import cycle.
    from . import events  # noqa: F401
