"""The routing core: plan the deployments, call them with one retry loop, fall back, meter."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from .breaker import BreakerBoard
from .config import DeploymentConfig, RoutingConfig
from .domain import ChatRequest, Completion, ErrorKind, ProviderError, estimate_prompt_tokens
from .pricing import Price, PriceTable
from .providers.base import Delta, Finish, Provider, StreamEvent
from .providers.usage import estimated_usage
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


class UnknownAliasError(LookupError):
    """The tenant has no such alias."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One deployment that did not answer, and why."""

    deployment_id: str
    kind: ErrorKind
    message: str


class RoutingFailedError(Exception):
    """Every candidate deployment failed or was skipped; no answer."""

    def __init__(self, failures: list[Failure]) -> None:
        summary = "; ".join(f"{f.deployment_id}: {f.kind.value}" for f in failures) or "none"
        super().__init__(f"no deployment answered ({summary})")
        self.failures = failures

    @property
    def kind(self) -> ErrorKind:
        """The last failure's kind (what finally stopped the chain)."""
        return self.failures[-1].kind if self.failures else ErrorKind.BAD_REQUEST


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """The one retry loop's limits."""

    max_attempts: int = 3
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    jitter_s: float = 0.2
    max_retry_after_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Plan:
    """Which deployments a call will try, in order, under which alias."""

    tenant_id: str
    alias: str
    deployments: tuple[DeploymentConfig, ...]
    prices: dict[str, Price]

    def max_price(self) -> Price:
        """The dearest candidate's price: what a reservation must cover."""
        prices = [self.prices[d.id] for d in self.deployments] or [Price(Decimal(0), Decimal(0))]
        return Price(
            max(p.input_per_token for p in prices), max(p.output_per_token for p in prices)
        )


@dataclass(frozen=True, slots=True)
class Routed:
    """An answer with where it came from and what it cost."""

    completion: Completion
    deployment: DeploymentConfig
    cost_usd: Decimal
    latency_s: float
    failures: tuple[Failure, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The first token arrived from this deployment; no fallback from here on."""

    deployment: DeploymentConfig


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The stream broke after its first token; `partial` is what the caller already got."""

    error: ProviderError
    deployment: DeploymentConfig
    partial: Routed


RoutedEvent = StreamStarted | Delta | Routed | StreamFailed


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

    def plan(self, tenant_id: str, alias: str, request: ChatRequest) -> Plan:
        """The ordered deployments for `alias`; a simple request may go to a cheaper alias."""
        aliases = self.config.aliases_for(tenant_id)
        chosen = aliases.get(alias)
        if chosen is None:
            raise UnknownAliasError(f"unknown model alias {alias!r}; known: {sorted(aliases)}")
        if chosen.simple_alias and _is_simple(request, chosen.simple_max_prompt_tokens):
            alias, chosen = chosen.simple_alias, aliases[chosen.simple_alias]
        deployments = [self.config.deployment(d) for d in chosen.deployments]
        ordered = order_deployments(
            chosen,
            deployments,
            price_of=self.prices.for_deployment,
            latency=self.latency,
            rng=self.rng,
        )
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
                    deployment, partial(_open, provider.stream, deployment, request)
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

    def _candidates(self, plan: Plan, request: ChatRequest, failures: list[Failure]) -> _Candidates:
        """Deployments still worth trying; a context-window failure raises the floor."""
        return _Candidates(plan.deployments, estimate_prompt_tokens(request), failures)

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


class stop_when(stop_base):  # noqa: N801 - named like tenacity's own stop conditions
    """A tenacity stop condition from a predicate."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


class _Candidates:
    """Iterates deployments lazily so a context-window failure can exclude smaller ones."""

    def __init__(
        self, deployments: tuple[DeploymentConfig, ...], prompt: int, failures: list[Failure]
    ) -> None:
        self.deployments = deployments
        self.prompt = prompt
        self.failures = failures

    def __iter__(self) -> _Candidates:
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


def _is_simple(request: ChatRequest, max_prompt_tokens: int) -> bool:
    """The documented rule: short, free-text, single-turn requests are simple."""
    user_turns = sum(1 for m in request.messages if m.role == "user")
    return (
        request.response_format == "text"
        and user_turns <= 1
        and estimate_prompt_tokens(request) <= max_prompt_tokens
    )


async def _open(
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
