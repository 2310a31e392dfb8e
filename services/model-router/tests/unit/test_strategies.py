"""Strategies order deployments; the simple-request rule picks a cheaper alias."""

from __future__ import annotations

import random
from collections import Counter

from model_router.config import parse_config
from model_router.strategies import LatencyTracker, order_deployments

from ..conftest import chat, make_router

CONFIG = {
    "version": 1,
    "deployments": [
        {
            "id": "premium",
            "provider": "local",
            "model": "p",
            "tier": "premium",
            "weight": 1,
            "price": {"input_per_token": "0.00001", "output_per_token": "0.00003"},
        },
        {
            "id": "standard",
            "provider": "local",
            "model": "s",
            "tier": "standard",
            "weight": 3,
            "price": {"input_per_token": "0.000001", "output_per_token": "0.000003"},
        },
        {
            "id": "cheap",
            "provider": "local",
            "model": "c",
            "tier": "cheap",
            "weight": 6,
            "price": {"input_per_token": "0.0000001", "output_per_token": "0.0000003"},
        },
    ],
    "aliases": {
        "priority": {"deployments": ["premium", "standard", "cheap"]},
        "cost": {
            "deployments": ["premium", "standard", "cheap"],
            "strategy": "lowest_cost",
            "tier": "standard",
        },
        "latency": {"deployments": ["premium", "standard", "cheap"], "strategy": "lowest_latency"},
        "weighted": {"deployments": ["premium", "standard", "cheap"], "strategy": "weighted"},
        "smart": {
            "deployments": ["premium"],
            "simple_alias": "cheapest",
            "simple_max_prompt_tokens": 20,
        },
        "cheapest": {"deployments": ["cheap"]},
    },
}


_CONFIG = parse_config(CONFIG)
_ROUTER = make_router(_CONFIG)


def ids(alias: str, latency: LatencyTracker | None = None, seed: int = 1) -> list[str]:
    config, router = _CONFIG, _ROUTER
    return [
        d.id
        for d in order_deployments(
            config.aliases[alias],
            [config.deployment(d) for d in config.aliases[alias].deployments],
            price_of=router.prices.for_deployment,
            latency=latency or LatencyTracker(),
            rng=random.Random(seed),
        )
    ]


def test_priority_keeps_the_configured_order():
    assert ids("priority") == ["premium", "standard", "cheap"]


def test_lowest_cost_meeting_the_tier_first_then_the_rest():
    assert ids("cost") == ["standard", "premium", "cheap"]


def test_lowest_observed_latency_first():
    tracker = LatencyTracker(alpha=0.5)
    for deployment, seconds in (("premium", 0.05), ("standard", 0.5), ("cheap", 0.2)):
        tracker.observe(deployment, seconds)
    tracker.observe("premium", 1.0)  # moving average: 0.05 -> 0.525
    assert ids("latency", tracker) == ["cheap", "standard", "premium"]


def test_weighted_prefers_heavier_deployments():
    firsts = Counter(ids("weighted", seed=s)[0] for s in range(600))
    assert firsts["cheap"] > firsts["standard"] > firsts["premium"] > 0


def test_simple_requests_go_to_the_cheaper_alias():
    router = make_router(parse_config(CONFIG))
    assert router.plan("t", "smart", chat("hi")).alias == "cheapest"
    long = chat("word " * 100)
    assert router.plan("t", "smart", long).alias == "smart"
    structured = chat("hi", response_format="json_object")
    assert router.plan("t", "smart", structured).alias == "smart"


def test_latency_hint_moves_slow_deployments_back():
    router = make_router(parse_config(CONFIG))
    router.latency.observe("premium", 2.0)
    router.latency.observe("standard", 0.1)
    plan = router.plan("t", "priority", chat("x" * 400), max_latency_s=0.5)
    assert [d.id for d in plan.deployments] == ["standard", "cheap", "premium"]
    assert [d.id for d in router.plan("t", "priority", chat("x" * 400)).deployments] == [
        "premium",
        "standard",
        "cheap",
    ]
