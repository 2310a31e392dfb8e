"""SIGKILL between the call and its commit: the executor runs as a real process, is killed
by the payment server the moment a charge takes effect (before the answer arrives), and
is restarted. Every request completes, and every charge happened exactly once, because the
retried call carries the same Idempotency-Key and the server dedupes on it (like Stripe)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentbus.testing import create_topics, eventually, produce, raw_record, unique
from contracts.envelope import decode, headers_to_dict

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REQUESTS = 40
KILL_AT_EFFECT = 10


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url")
    return url


def _definitions(directory: Path, base_url: str) -> None:
    directory.mkdir()
    (directory / "payments.yaml").write_text(
        json.dumps(
            {
                "name": "payments.charge",
                "version": "1",
                "side_effect": "write",
                "scopes": ["payments:write"],
                "timeout_s": 5,
                "arguments_schema": {
                    "type": "object",
                    "required": ["path", "json"],
                    "properties": {"path": {"const": "/pay"}, "json": {"type": "object"}},
                },
                "implementation": {
                    "kind": "builtin",
                    "name": "http.request",
                    "config": {
                        "method": "POST",
                        "base_url": base_url,
                        "headers": {"Authorization": "Bearer {secret:crm_token}"},
                    },
                },
            }
        )
    )


def _env(
    tmp_path: Path, bootstrap: str, database_url: str, topics: dict[str, str]
) -> dict[str, str]:
    grants = tmp_path / "grants.yaml"
    grants.write_text(
        "tenants:\n  acme:\n    - tool: payments.charge\n      scopes: ['payments:write']\n"
        "      hosts: ['127.0.0.1']\n      allowed_networks: ['127.0.0.1/32']\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOL_EXECUTOR_")}
    env.update(
        {
            "TOOL_EXECUTOR_BUS__BOOTSTRAP_SERVERS": bootstrap,
            # The broker's minimum: a killed member's partitions move 4 s sooner.
            "TOOL_EXECUTOR_BUS__SESSION_TIMEOUT_MS": "6000",
            "TOOL_EXECUTOR_BUS__DATABASE_URL": database_url,
            "TOOL_EXECUTOR_BUS__CONSUMER_GROUP": unique("te-kill"),
            "TOOL_EXECUTOR_BUS__AUTO_OFFSET_RESET": "earliest",
            "TOOL_EXECUTOR_HTTP__PORT": "0",
            "TOOL_EXECUTOR_TOOLS_DIR": str(tmp_path / "tools"),
            "TOOL_EXECUTOR_GRANTS_FILE": str(grants),
            "TOOL_EXECUTOR_SECRETS": json.dumps({"crm_token": "kill-test-token"}),
            "TOOL_EXECUTOR_TOPICS__REQUESTS": topics["requests"],
            "TOOL_EXECUTOR_TOPICS__APPROVAL_REQUESTS": topics["approval_requests"],
            "TOOL_EXECUTOR_TOPICS__APPROVAL_DECISIONS": topics["approval_decisions"],
        }
    )
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "tool-executor"
    with log.open("ab") as out:
        return subprocess.Popen([str(script), "serve"], env=env, stdout=out, stderr=out)


async def test_sigkill_between_call_and_commit_loses_nothing_and_charges_once(
    kafka_bootstrap: str,
    database_url: str,
    tmp_path: Path,
    counting_server: Any,
    harness: Any,
    watch: Any,
) -> None:
    names = ("requests", "approval_requests", "approval_decisions")
    topics = {name: unique(f"te-kill-{name}") for name in names}
    await create_topics(kafka_bootstrap, [*topics.values(), "tool.results"], partitions=3)
    _definitions(tmp_path / "tools", counting_server.url)
    env = _env(tmp_path, kafka_bootstrap, database_url, topics)
    log = tmp_path / "executor.log"
    first = _start(env, log)
    killed: list[str] = []

    def kill_mid_call(key: str) -> None:
        # The charge is done but its answer is not sent: the executor dies before it can
        # record anything, exactly between the call and its commit.
        if len(counting_server.effects) == KILL_AT_EFFECT and not killed:
            killed.append(key)
            os.kill(first.pid, signal.SIGKILL)

    counting_server.on_effect = kill_mid_call
    requests = [
        harness.request(
            "payments.charge",
            {"path": "/pay", "json": {"amount": i + 1}},
            scopes=["payments:write"],
            key=f"run-{i}:charge:1",
        )
        for i in range(REQUESTS)
    ]
    ids = {r.id for r in requests}
    second: subprocess.Popen[bytes] | None = None
    try:
        async with watch(["tool.results"]) as watcher:
            await produce(kafka_bootstrap, topics["requests"], [raw_record(r) for r in requests])

            async def first_is_dead() -> bool:
                return first.poll() is not None

            await eventually(first_is_dead, timeout_s=90, what="the payment server killed it")
            assert first.returncode == -signal.SIGKILL, log.read_text()[-3000:]
            assert killed
            second = _start(env, log)

            def answered(records: list[Any]) -> bool:
                seen = {_request_id(r) for r in records}
                return ids <= seen

            records = await watcher.until(answered, timeout_s=90)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()

    replies = [decode(r.headers, r.value) for r in records if _request_id(r) in ids]
    assert {e.data.request_id for e in replies} == ids
    assert all(e.data.status == "succeeded" for e in replies), [
        e.data.error for e in replies if e.data.status != "succeeded"
    ]
    # A reply published twice (a crash after commit) keeps its event id: consumers dedupe.
    by_request: dict[str, set[str]] = {}
    for envelope in replies:
        by_request.setdefault(envelope.data.request_id, set()).add(envelope.id)
    assert all(len(event_ids) == 1 for event_ids in by_request.values())
    # Every charge exactly once, though the killed one reached the server twice.
    assert len(counting_server.effects) == REQUESTS
    assert set(counting_server.effects.values()) == {1}
    deliveries = [r["headers"]["idempotency-key"] for r in counting_server.requests]
    assert deliveries.count(killed[0]) == 2
    keys = {r.id: r.data.idempotency_key for r in requests}
    for envelope in replies:
        assert envelope.data.result["body"]["key"] == keys[envelope.data.request_id]


def _request_id(record: Any) -> str | None:
    if headers_to_dict(record.headers).get("ce_type") != "agentbus.tool.completed.v1":
        return None
    return str(json.loads(record.value).get("request_id"))
