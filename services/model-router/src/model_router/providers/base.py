"""What every provider adapter offers: one call, or one stream of deltas then a finish."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from ..config import DeploymentConfig
from ..domain import ChatRequest, Completion, Usage

__all__ = ["Delta", "Finish", "Provider", "StreamEvent"]


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of streamed completion text."""

    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a stream: why it stopped, which model answered, and the usage."""

    finish_reason: str
    model: str
    usage: Usage


StreamEvent = Delta | Finish


class Provider(Protocol):
    """One adapter; raises ProviderError (classified) for every failure, never anything else."""

    name: str

    async def complete(self, deployment: DeploymentConfig, request: ChatRequest) -> Completion:
        """One chat completion."""
        ...

    def stream(
        self, deployment: DeploymentConfig, request: ChatRequest
    ) -> AsyncGenerator[StreamEvent, None]:
        """Deltas, then exactly one Finish; a failure raises ProviderError mid-iteration."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
