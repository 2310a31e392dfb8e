"""The service as a real process, SIGKILLed with requests pending: deadlines survive, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx

from agentbus.testing import create_topics, eventually, free_port, produce, raw_record, unique

from .harness import api_keys, approval_request, key_of, make_topics, wait_events

REQUESTS = 12


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "approval"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def test_sigkill_with_pending_deadlines_expires_each_once(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    # PostgreSQL only (the production store): a restart waits out the killed member's
    # session, so each run costs ~20 s; the store itself is tested on both elsewhere.
    database_url = postgres_url
    topics, port = make_topics(), free_port()
    await create_topics(
        kafka_bootstrap, [topics.requests, topics.decisions, topics.audit, topics.requests + ".dlq"]
    )
    env = os.environ | {
        "APPROVAL_BUS__BOOTSTRAP_SERVERS": kafka_bootstrap,
        # The broker's minimum: a killed member's partitions move 4 s sooner.
        "APPROVAL_BUS__SESSION_TIMEOUT_MS": "6000",
        "APPROVAL_BUS__CONSUMER_GROUP": unique("approval"),
        "APPROVAL_BUS__DATABASE_URL": database_url,
        "APPROVAL_BUS__OUTBOX_RELAY_GRACE_S": "0.5",
        "APPROVAL_BUS__OUTBOX_RELAY_INTERVAL_S": "0.2",
        "APPROVAL_HTTP__PORT": str(port),
        "APPROVAL_HTTP__API_KEYS": json.dumps(api_keys()),
        "APPROVAL_TOPICS__REQUESTS": topics.requests,
        "APPROVAL_TOPICS__DECISIONS": topics.decisions,
        "APPROVAL_TOPICS__AUDIT": topics.audit,
        "APPROVAL_BUS__TIMER_POLL_INTERVAL_S": "0.1",
    }
    log = tmp_path / "approval.log"
    url = f"http://127.0.0.1:{port}"
    process = _start(env, log)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:

            async def up() -> bool:
                try:
                    return (await http.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout_s=60, what="service ready")
            # Deadlines spread over the kill and the restart: most pass while it is dead.
            requests = [approval_request(deadline_in_s=2.5 + i * 0.25) for i in range(REQUESTS)]

            async def stored() -> bool:
                try:
                    response = await http.get("/v1/approvals", headers={"X-API-Key": key_of("bob")})
                except httpx.TransportError:
                    return False
                return response.status_code == 200 and len(response.json()) == REQUESTS

            await produce(kafka_bootstrap, topics.requests, [raw_record(r) for r in requests])
            await eventually(stored, timeout_s=60, what="requests stored")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process = _start(env, log)
        events = await wait_events(
            kafka_bootstrap, topics.decisions, REQUESTS, timeout_s=60, settle_s=2.0
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
    # One decision event (one id) per request; a copy re-sent by the at-least-once relay
    # after the kill carries the same id, which consumers deduplicate.
    distinct = {(e.data.request_id, e.id) for e in events}
    counts = Counter(request_id for request_id, _ in distinct)
    assert counts == Counter({r.id: 1 for r in requests}), log.read_text()[-3000:]
    assert {e.data.outcome for e in events} == {"expired"}
