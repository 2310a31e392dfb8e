"""SIGKILL between the call and its commit, for a tool that cannot dedupe: a write on a real
MCP server (stdio) with no idempotency hint and no key to forward. The executor runs as a
real process and is killed once the tool's effect is on disk, before the answer. After the
restart the redelivered request is not called again: it ends as `tool.outcome_unknown`, so
the effect happened exactly once; the operator's `calls resolve` then settles the key."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from contracts.envelope import decode, headers_to_dict, new_envelope
from contracts.events.tool import ToolRequested
from contracts.types import StepRef

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVER = Path(__file__).parent / "mcp_calc_server.py"
TOOL = "mcp.calc.append_note"


def _env(tmp_path: Path, bootstrap: str, topics: dict[str, str], notes: Path) -> dict[str, str]:
    grants = tmp_path / "grants.yaml"
    grants.write_text(f"tenants:\n  acme:\n    - tool: {TOOL}\n      scopes: ['mcp:calc']\n")
    server = {"command": sys.executable, "args": [str(SERVER), str(notes)]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOL_EXECUTOR_")}
    env.update(
        {
            "TOOL_EXECUTOR_BUS__BOOTSTRAP_SERVERS": bootstrap,
            # The broker's minimum: a killed member's partitions move 4 s sooner.
            "TOOL_EXECUTOR_BUS__SESSION_TIMEOUT_MS": "6000",
            "TOOL_EXECUTOR_BUS__DATABASE_URL": f"sqlite:///{tmp_path / 'executor.db'}",
            "TOOL_EXECUTOR_BUS__CONSUMER_GROUP": unique("te-kill-mcp"),
            "TOOL_EXECUTOR_BUS__AUTO_OFFSET_RESET": "earliest",
            "TOOL_EXECUTOR_HTTP__PORT": "0",
            "TOOL_EXECUTOR_GRANTS_FILE": str(grants),
            "TOOL_EXECUTOR_MCP_SERVERS": json.dumps({"calc": server}),
            "TOOL_EXECUTOR_IMPORT_MCP_ON_START": "true",
            "TOOL_EXECUTOR_TOPICS__REQUESTS": topics["requests"],
            "TOOL_EXECUTOR_TOPICS__APPROVAL_REQUESTS": topics["approval_requests"],
            "TOOL_EXECUTOR_TOPICS__APPROVAL_DECISIONS": topics["approval_decisions"],
        }
    )
    return env


def _script() -> str:
    return str(Path(sys.executable).parent / "tool-executor")


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([_script(), "serve"], env=env, stdout=out, stderr=out)


def _lines(notes: Path) -> list[str]:
    return notes.read_text().splitlines() if notes.exists() else []


async def test_sigkill_after_an_mcp_write_never_repeats_it_and_names_the_unknown_outcome(
    kafka_bootstrap: str, tmp_path: Path, watch: Any
) -> None:
    names = ("requests", "approval_requests", "approval_decisions")
    topics = {name: unique(f"te-kill-mcp-{name}") for name in names}
    await create_topics(kafka_bootstrap, [*topics.values(), "tool.results"], partitions=1)
    notes = tmp_path / "notes.txt"
    env = _env(tmp_path, kafka_bootstrap, topics, notes)
    log = tmp_path / "executor.log"

    def request(text: str, key: str, hold_s: float = 0) -> Any:
        run_id = key.split(":")[0]
        data = ToolRequested(
            step=StepRef(run_id=run_id, step_id="charge"),
            tool=TOOL,
            arguments={"text": text, "hold_s": hold_s},
            idempotency_key=key,
            scopes=["mcp:calc"],
        )
        return new_envelope(data, source="planner", tenant_id="acme", run_id=run_id)

    # The server answers 8 s after the effect (under the tool's 10 s timeout): the kill
    # lands in that window, after the call and before any commit.
    killed = request("charged", "run-1:charge:1", hold_s=8)
    first = _start(env, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        async with watch(["tool.results"]) as watcher:
            await produce(kafka_bootstrap, topics["requests"], [raw_record(killed)])

            async def effect_on_disk() -> bool:
                return _lines(notes) == ["charged"]

            await eventually(effect_on_disk, timeout_s=90, what="the MCP write took effect")
            os.kill(first.pid, signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
            second = _start(env, log)
            replies = await watcher.until(_answered({killed.id}), timeout_s=90)

            # The planner retries the step under the same key; another key still runs.
            retried = request("charged", "run-1:charge:1")
            fresh = request("fresh", "run-2:charge:1")
            await produce(kafka_bootstrap, topics["requests"], [raw_record(retried)])
            await produce(kafka_bootstrap, topics["requests"], [raw_record(fresh)])
            replies = await watcher.until(_answered({retried.id, fresh.id}), timeout_s=60)

            by_request = _by_request(replies)
            for envelope in (killed, retried):
                reply = by_request[envelope.id]
                assert reply.status == "failed"
                assert reply.error.code == "tool.outcome_unknown"
                assert reply.error.retryable is False
                assert reply.error.details["idempotency_key"] == "run-1:charge:1"
                assert "not called again" in reply.error.message
            assert by_request[fresh.id].status == "succeeded"
            # The effect of the killed call happened once; only the fresh key ran after it.
            assert _lines(notes) == ["charged", "fresh"]

            # The operator reconciles: the charge did happen, so the key replays a result.
            code, listed = await _cli(env, "calls", "unknown", "--tenant", "acme")
            assert code == 0, listed
            assert json.loads(listed)["idempotency_key"] == "run-1:charge:1"
            verdict = ["--applied", '{"reconciled": "charged once"}']
            code, out = await _cli(
                env, "calls", "resolve", "--tenant", "acme", "run-1:charge:1", *verdict
            )
            assert code == 0, out
            settled = request("charged", "run-1:charge:1")
            await produce(kafka_bootstrap, topics["requests"], [raw_record(settled)])
            replies = await watcher.until(_answered({settled.id}), timeout_s=60)
            reply = _by_request(replies)[settled.id]
            assert reply.status == "succeeded"
            assert reply.result == {"reconciled": "charged once"}
            assert _lines(notes) == ["charged", "fresh"]
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the admin CLI as an operator would; exit status and stdout."""
    process = await asyncio.create_subprocess_exec(
        _script(), *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), out.decode()


def _answered(ids: set[str]) -> Any:
    def check(records: list[Any]) -> bool:
        return ids <= set(_by_request(records))

    return check


def _by_request(records: list[Any]) -> dict[str, Any]:
    replies = {}
    for record in records:
        if headers_to_dict(record.headers).get("ce_type") == "agentbus.tool.completed.v1":
            data = decode(record.headers, record.value).data
            replies[data.request_id] = data
    return replies
