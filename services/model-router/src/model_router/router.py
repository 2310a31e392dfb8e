"""The routing core: plan the deployments, call them with one retry loop, fall back, meter."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .breaker import BreakerBoard
from .candidates import Candidates, is_simple, open_stream, stop_when
from .config import DeploymentConfig, RoutingConfig
from .domain import ChatRequest, Completion, ErrorKind, ProviderError, estimate_prompt_tokens
from .pricing import PriceTable
from .providers.base import Finish, Provider, StreamEvent
from .providers.usage import estimated_usage
from .routing_types import (
    Failure,
    Plan,
    RetrySettings,
    Routed,
    RoutedEvent,
    RoutingFailedError,
    StreamFailed,
    StreamStarted,
    UnknownAliasError,
)
from .strategies import LatencyTracker, order_deployments

__all__ = [
    "Plan",
    "RetrySettings",
    "Routed",
    "Router",
    "RoutingFailedError",
    "StreamFailed",
    "StreamStarted",
    "UnknownAliasError",
]

T = TypeVar("T")


@dataclass
class Router:
    """Pure routing decisions plus the I/O loop around provider adapters."""

    config: RoutingConfig
    providers: dict[str, Provider]
    prices: PriceTable
    retry: RetrySettings
    breakers: BreakerBoard
    latency: LatencyTracker = field(default_factory=LatencyTracker)
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_retry: Callable[[DeploymentConfig, ProviderError], None] | None = None

    def plan(
        self,
        tenant_id: str,
        alias: str,
        request: ChatRequest,
        *,
        max_latency_s: float | None = None,
    ) -> Plan:
        """The ordered deployments for `alias`; a simple request may go to a cheaper alias.

        With `max_latency_s` (the caller's hint), deployments whose moving-average latency
        exceeds it move behind those that meet it; the strategy's order holds otherwise.
        """
        aliases = self.config.aliases_for(tenant_id)
        chosen = aliases.get(alias)
        if chosen is None:
            raise UnknownAliasError(f"unknown model alias {alias!r}; known: {sorted(aliases)}")
        if chosen.simple_alias and is_simple(request, chosen.simple_max_prompt_tokens):
            alias, chosen = chosen.simple_alias, aliases[chosen.simple_alias]
        deployments = [self.config.deployment(d) for d in chosen.deployments]
        ordered = order_deployments(
            chosen,
            deployments,
            price_of=self.prices.for_deployment,
            latency=self.latency,
            rng=self.rng,
        )
        if max_latency_s is not None:
            ordered.sort(key=lambda d: self.latency.get(d.id) > max_latency_s)
        prices = {d.id: self.prices.for_deployment(d) for d in ordered}
        return Plan(tenant_id, alias, tuple(ordered), prices)

    async def complete(self, plan: Plan, request: ChatRequest) -> Routed:
        """The first deployment that answers; RoutingFailedError when none does."""
        started = self.clock()
        failures: list[Failure] = []
        for deployment in self._candidates(plan, request, failures):
            provider = self.providers[deployment.provider]
            try:
                completion = await self._with_retries(
                    deployment, partial(provider.complete, deployment, request)
                )
            except ProviderError as exc:
                failures.append(Failure(deployment.id, exc.kind, exc.message))
                continue
            elapsed = self.clock() - started
            self.latency.observe(deployment.id, elapsed)
            cost = plan.prices[deployment.id].cost(completion.usage)
            return Routed(completion, deployment, cost, elapsed, tuple(failures))
        raise RoutingFailedError(failures)

    async def stream(self, plan: Plan, request: ChatRequest) -> AsyncIterator[RoutedEvent]:
        """StreamStarted, Deltas, then Routed; or StreamFailed after the first token."""
        started = self.clock()
        failures: list[Failure] = []
        for deployment in self._candidates(plan, request, failures):
            provider = self.providers[deployment.provider]
            try:
                events, first = await self._with_retries(
                    deployment, partial(open_stream, provider.stream, deployment, request)
                )
            except ProviderError as exc:
                # Nothing reached the caller yet: fall back transparently.
                failures.append(Failure(deployment.id, exc.kind, exc.message))
                continue
            yield StreamStarted(deployment)
            breaker = self.breakers.get(deployment.id)
            text: list[str] = []
            try:
                event: StreamEvent | None = first
                while event is not None:
                    if isinstance(event, Finish):
                        elapsed = self.clock() - started
                        self.latency.observe(deployment.id, elapsed)
                        completion = Completion(
                            "".join(text), event.finish_reason, event.model, event.usage
                        )
                        cost = plan.prices[deployment.id].cost(event.usage)
                        yield Routed(completion, deployment, cost, elapsed, tuple(failures))
                        return
                    text.append(event.text)
                    yield event
                    event = await anext(events, None)
                raise ProviderError(ErrorKind.MALFORMED, "stream ended without a finish")
            except ProviderError as exc:
                breaker.failure(self.clock())
                # The provider bills what it generated: estimate it rather than charge $0.
                usage = estimated_usage(request, "".join(text))
                cut = Completion("".join(text), "error", deployment.model, usage)
                cost = plan.prices[deployment.id].cost(usage)
                elapsed = self.clock() - started
                yield StreamFailed(exc, deployment, Routed(cut, deployment, cost, elapsed))
                return
            finally:
                await events.aclose()
        raise RoutingFailedError(failures)

    def _candidates(self, plan: Plan, request: ChatRequest, failures: list[Failure]) -> Candidates:
        """Deployments still worth trying; a context-window failure raises the floor."""
        return Candidates(plan.deployments, estimate_prompt_tokens(request), failures)

    async def _with_retries(
        self, deployment: DeploymentConfig, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Exactly one retry loop: transient errors only, Retry-After honoured, then give up."""
        breaker = self.breakers.get(deployment.id)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_attempts)
            | stop_when(self._retry_after_too_long),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.transient),
            sleep=self.sleep,
            before_sleep=lambda state: self._note_retry(deployment, state),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if not breaker.allow(self.clock()):
                    raise ProviderError(ErrorKind.CIRCUIT_OPEN, "circuit breaker open")
                try:
                    result = await call()
                except ProviderError as exc:
                    if exc.kind not in (ErrorKind.CONTENT_POLICY, ErrorKind.CONTEXT_WINDOW):
                        breaker.failure(self.clock())  # the request's fault, not the deployment's
                    raise
                breaker.success()
                return result
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ProviderError) and error.retry_after_s is not None:
            return error.retry_after_s
        backoff = wait_exponential_jitter(
            multiplier=self.retry.initial_backoff_s,
            max=self.retry.max_backoff_s,
            jitter=self.retry.jitter_s,
        )
        return float(backoff(state))

    def _retry_after_too_long(self, state: RetryCallState) -> bool:
        # A provider asking for a long pause is better served by the next deployment.
        error = state.outcome.exception() if state.outcome else None
        wait = getattr(error, "retry_after_s", None)
        return wait is not None and wait > self.retry.max_retry_after_s

    def _note_retry(self, deployment: DeploymentConfig, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if self.on_retry is not None and isinstance(error, ProviderError):
            self.on_retry(deployment, error)
