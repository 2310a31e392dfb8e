"""The Temporal side of make bench-e2e: the same five steps as a workflow of five activities."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

with workflow.unsafe.imports_passed_through():
    import httpx

    from agentbus.guard import Guard, PolicyStore, TenantKeys

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "bench-governed"
_GUARD: Guard | None = None
_POLICIES = PolicyStore(ROOT / "demo" / "config" / "policies")
_KEYS = TenantKeys(
    hash_salt=b"bench-salt-0123456789abcdef", token_key=b"bench-token-key-0123456789abcdef"
)
_HTTP: httpx.AsyncClient | None = None


def _guard() -> Guard:
    global _GUARD
    if _GUARD is None:
        _GUARD = Guard()
    return _GUARD


def _check(text: str, policy: str) -> str:
    verdict = _guard().check(text, _POLICIES.get("acme", policy), _KEYS)
    if verdict.decision.value == "block":
        raise RuntimeError(verdict.reason or "blocked")
    return str(verdict.masked_content if verdict.masked_content is not None else text)


@activity.defn
async def guard_input(text: str) -> str:
    return _check(text, "customer-messages")


@activity.defn
async def call_model(prompt: str) -> str:
    # The local provider's kind of answer: deterministic, zero latency.
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    return f"[local-small] {prompt[:200]} ({digest})"


@activity.defn
async def call_tool(order_id: str) -> dict[str, Any]:
    global _HTTP
    if _HTTP is None:
        _HTTP = httpx.AsyncClient(timeout=10)
    response = await _HTTP.post(
        os.environ["TEMPORAL_SHOP_URL"],
        json={"order_id": order_id},
        headers={"Idempotency-Key": activity.info().activity_id + activity.info().workflow_id},
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


@activity.defn
async def guard_output(text: str) -> str:
    return _check(text, "customer-replies")


@activity.defn
async def complete(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "status": "completed"}


@workflow.defn
class GovernedRefund:
    @workflow.run
    async def run(self, order_id: str, message: str) -> dict[str, Any]:
        timeout = timedelta(seconds=30)
        masked = await workflow.execute_activity(
            guard_input, message, start_to_close_timeout=timeout
        )
        answer = await workflow.execute_activity(call_model, masked, start_to_close_timeout=timeout)
        order = await workflow.execute_activity(call_tool, order_id, start_to_close_timeout=timeout)
        reply = await workflow.execute_activity(
            guard_output, answer, start_to_close_timeout=timeout
        )
        return await workflow.execute_activity(
            complete, {"order": order, "reply": reply}, start_to_close_timeout=timeout
        )


async def run_temporal(address: str, single: int, runs: int, concurrency: int, measure: Any) -> Any:
    """Start a worker on the dev server at `address` and measure with the caller's harness."""
    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[GovernedRefund],
        activities=[guard_input, call_model, call_tool, guard_output, complete],
        # No sandbox: it re-imports this module per workflow and costs Temporal time; without it
        # the comparison favours Temporal.
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=concurrency * 2,
        max_concurrent_workflow_tasks=concurrency,
    ):

        async def run_once(index: int) -> float:
            began = time.perf_counter()
            await client.execute_workflow(
                GovernedRefund.run,
                args=[f"C-{index % 80}", f"Parcel {index} late, mail me at jane.doe@example.com"],
                id=f"bench-{uuid.uuid4().hex}",
                task_queue=QUEUE,
            )
            return time.perf_counter() - began

        return await measure("Temporal (5 activities)", run_once, single, runs, concurrency)
