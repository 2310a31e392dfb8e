"""The base class every event contract derives from."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Event"]


class Event(BaseModel):
    """A frozen event payload; `EVENT_TYPE` is its CloudEvents `type`."""

    # extra="ignore": an older consumer must accept a newer producer's additive fields.
    model_config = ConfigDict(frozen=True, extra="ignore")

    EVENT_TYPE: ClassVar[str]

    def partition_key(self) -> str | None:
        """The Kafka key this event must have whatever its run; None lets the envelope choose."""
        return None
