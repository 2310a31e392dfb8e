"""Pieces of the routing loop: candidate order under a context floor, stream opening."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from tenacity import RetryCallState
from tenacity.stop import stop_base

from .config import DeploymentConfig
from .domain import ChatRequest, ErrorKind, ProviderError, estimate_prompt_tokens
from .providers.base import StreamEvent
from .routing_types import Failure

__all__ = ["Candidates", "is_simple", "open_stream", "stop_when"]


class stop_when(stop_base):  # noqa: N801 - named like tenacity's own stop conditions
    """A tenacity stop condition from a predicate."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


class Candidates:
    """Iterates deployments lazily so a context-window failure can exclude smaller ones."""

    def __init__(
        self, deployments: tuple[DeploymentConfig, ...], prompt: int, failures: list[Failure]
    ) -> None:
        self.deployments = deployments
        self.prompt = prompt
        self.failures = failures

    def __iter__(self) -> Candidates:
        self._index = 0
        return self

    def __next__(self) -> DeploymentConfig:
        while self._index < len(self.deployments):
            deployment = self.deployments[self._index]
            self._index += 1
            if deployment.context_window < self._floor():
                self.failures.append(
                    Failure(deployment.id, ErrorKind.CONTEXT_WINDOW, "context window too small")
                )
                continue
            return deployment
        raise StopIteration

    def _floor(self) -> int:
        floor = self.prompt
        by_id = {d.id: d for d in self.deployments}
        for failure in self.failures:
            if failure.kind is ErrorKind.CONTEXT_WINDOW and failure.deployment_id in by_id:
                floor = max(floor, by_id[failure.deployment_id].context_window + 1)
        return floor


def is_simple(request: ChatRequest, max_prompt_tokens: int) -> bool:
    """The documented rule: short, free-text, single-turn requests are simple."""
    user_turns = sum(1 for m in request.messages if m.role == "user")
    return (
        request.response_format == "text"
        and user_turns <= 1
        and estimate_prompt_tokens(request) <= max_prompt_tokens
    )


async def open_stream(
    stream: Callable[[DeploymentConfig, ChatRequest], AsyncGenerator[StreamEvent, None]],
    deployment: DeploymentConfig,
    request: ChatRequest,
) -> tuple[AsyncGenerator[StreamEvent, None], StreamEvent]:
    """Start a stream and wait for its first event (inside the retry loop)."""
    events = stream(deployment, request)
    try:
        first = await anext(events)
    except StopAsyncIteration:
        raise ProviderError(ErrorKind.MALFORMED, "stream ended before any event") from None
    except BaseException:
        await events.aclose()
        raise
    return events, first
