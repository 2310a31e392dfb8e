"""model-router bench: added latency and throughput over direct httpx, beside LiteLLM's Router.

One run, one zero-latency OpenAI-compatible server (a separate process, uvicorn + httptools),
four clients in this process on uvloop:
  direct      httpx.AsyncClient POST /v1/chat/completions (the baseline)
  direct+aio  the same over the aiohttp pool (httpx-aiohttp) the router's adapters use
  router      model_router.Router.complete (plan, retries, breaker, adapter, usage, cost)
  litellm     litellm.Router.acompletion (same server, same model list)
Latency: sequential calls, clients interleaved; p50/p99 of each, added = client - direct.
Throughput: `--concurrency` calls in flight until `--requests` are done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agentbus.testing import free_port

ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9},
    }
).encode()
MESSAGES = [{"role": "user", "content": "ping"}]


async def zero_latency_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI app: read the body, answer a fixed chat.completion at once."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": ANSWER})


def serve(port: int) -> None:
    """Run the zero-latency server (child process)."""
    import uvicorn

    uvicorn.run(
        zero_latency_app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="off",
    )


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latencies(
    calls: dict[str, Callable[[], Awaitable[Any]]], n: int
) -> dict[str, list[float]]:
    """Sequential calls; direct and router interleaved (alternating order) so background
    load hits both alike; LiteLLM apart, after them, since it leaves background logging
    tasks that would slow whichever call comes next."""
    out: dict[str, list[float]] = {name: [] for name in calls}

    async def timed(name: str) -> None:
        started = time.perf_counter()
        await calls[name]()
        out[name].append(time.perf_counter() - started)

    for call in calls.values():
        for _ in range(50):  # warm-up: connections, caches
            await call()
    pair = [name for name in calls if name != "litellm"]
    for i in range(n):
        for name in pair if i % 2 == 0 else pair[::-1]:
            await timed(name)
    for _ in range(n):
        await timed("litellm")
    return out


async def throughput(
    call: Callable[[], Awaitable[Any]], total: int, concurrency: int
) -> tuple[float, float]:
    """(calls per second, this process's CPU seconds per call) at `concurrency`."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started), (time.process_time() - cpu) / total


def clients(
    url: str,
) -> tuple[dict[str, Callable[[], Awaitable[Any]]], list[Callable[[], Awaitable[None]]]]:
    """The four clients, and what closes their connection pools."""
    import httpx
    from model_router.breaker import BreakerBoard
    from model_router.config import parse_config
    from model_router.domain import ChatRequest, Message
    from model_router.pricing import load_price_table
    from model_router.providers import build_providers
    from model_router.providers.factory import http_client
    from model_router.router import RetrySettings, Router

    direct_client = httpx.AsyncClient(
        timeout=httpx.Timeout(30, connect=5),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        trust_env=False,
    )
    body = {"model": "bench-model", "messages": MESSAGES}

    async def direct() -> Any:
        response = await direct_client.post(f"{url}/v1/chat/completions", json=body)
        return response.json()

    # The same httpx API over the aiohttp pool the router's adapters use (the router's floor).
    aio_client = http_client(connect_timeout_s=5, read_timeout_s=30, max_connections=200)

    async def direct_aiohttp() -> Any:
        response = await aio_client.post(f"{url}/v1/chat/completions", json=body)
        return response.json()

    config = parse_config(
        {
            "version": 1,
            "deployments": [
                {
                    "id": "bench",
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "endpoint": f"{url}/v1",
                },
            ],
            "aliases": {"fast": {"deployments": ["bench"]}},
        }
    )
    router = Router(
        config=config,
        providers=build_providers(
            {}, connect_timeout_s=5, read_timeout_s=30, max_connections=200, default_max_tokens=64
        ),
        prices=load_price_table(),
        retry=RetrySettings(),
        breakers=BreakerBoard(5, 30),
    )
    request = ChatRequest(messages=(Message("user", "ping"),))

    async def routed() -> Any:
        plan = router.plan("bench-tenant", "fast", request)
        return await router.complete(plan, request)

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch at import
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    lite = litellm.Router(
        model_list=[
            {
                "model_name": "fast",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": f"{url}/v1",
                    "api_key": "bench",
                },
            }
        ],
        num_retries=0,
    )

    async def via_litellm() -> Any:
        return await lite.acompletion(model="fast", messages=MESSAGES)

    closers = [direct_client.aclose, aio_client.aclose]
    closers += [provider.aclose for provider in router.providers.values()]
    calls = {
        "direct": direct,
        "direct+aio": direct_aiohttp,
        "router": routed,
        "litellm": via_litellm,
    }
    return calls, closers


async def run(args: argparse.Namespace, url: str) -> None:
    calls, closers = clients(url)
    try:
        lat = await latencies(calls, args.latency_requests)
        # Rounds, the clients taking turns, so a burst of background load is shared out.
        wall = dict.fromkeys(calls, 0.0)
        cpu = dict.fromkeys(calls, 0.0)
        per_round = args.requests // args.rounds
        for _ in range(args.rounds):
            for name, call in calls.items():
                rate, cpu_per_call = await throughput(call, per_round, args.concurrency)
                wall[name] += per_round / rate
                cpu[name] += cpu_per_call / args.rounds
        rps = {name: per_round * args.rounds / wall[name] for name in calls}
    finally:
        for close in closers:
            await close()
    base50 = statistics.median(lat["direct"])
    base99 = percentile(lat["direct"], 0.99)
    print(f"model-router bench  (uvloop; {args.latency_requests} sequential calls for latency,")
    print(
        f"{args.requests} calls at concurrency {args.concurrency} for throughput, "
        f"in {args.rounds} interleaved rounds)"
    )
    print(
        f"{'client':<11}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}"
        f"{'req/s':>9}{'cpu us/call':>13}"
    )
    for name in calls:
        p50 = statistics.median(lat[name])
        p99 = percentile(lat[name], 0.99)
        added50 = "" if name == "direct" else f"{(p50 - base50) * 1000:.3f}"
        added99 = "" if name == "direct" else f"{(p99 - base99) * 1000:.3f}"
        print(
            f"{name:<11}{p50 * 1000:>9.3f}{p99 * 1000:>9.3f}{added50:>11}{added99:>11}"
            f"{rps[name]:>9.0f}{cpu[name] * 1e6:>13.0f}"
        )
    added50 = (statistics.median(lat["router"]) - base50) * 1000
    added99 = (percentile(lat["router"], 0.99) - base99) * 1000
    ratio = rps["router"] / rps["litellm"]
    floor50 = (statistics.median(lat["router"]) - statistics.median(lat["direct+aio"])) * 1000
    added_cpu = (cpu["router"] - cpu["direct+aio"]) * 1e6
    print(
        f"router over its own transport (direct+aio): added p50 {floor50:.3f} ms, "
        f"CPU {added_cpu:.0f} us per call at concurrency {args.concurrency}"
    )
    print(
        f"targets: added p50 {added50:.3f} ms (<= 1), added p99 {added99:.3f} ms (<= 5), "
        f"throughput {ratio:.1f}x LiteLLM (>= 5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--latency-requests", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="throughput turns per client")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        import uvloop

        uvloop.run(run(args, url))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
