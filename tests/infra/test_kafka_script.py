"""infra/kafka/kafka.sh brings up a broker that answers real Kafka clients."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from agentbus.testing import free_port

pytestmark = pytest.mark.integration

KAFKA_SH = Path(__file__).resolve().parents[2] / "infra" / "kafka" / "kafka.sh"


def kafka_sh(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # `up` may resolve jars with Maven on a fresh machine, hence the long timeout.
    return subprocess.run(
        [str(KAFKA_SH), *args], capture_output=True, text=True, timeout=900, check=False, env=env
    )


@pytest.fixture(scope="module")
def bootstrap() -> str:
    """The script's broker, started if needed and left running (as `make kafka-up` does)."""
    up = kafka_sh("up")
    assert up.returncode == 0, up.stderr
    return kafka_sh("bootstrap").stdout.strip()


def test_status_and_bootstrap_after_up(bootstrap: str) -> None:
    status = kafka_sh("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert bootstrap == f"127.0.0.1:{os.environ.get('KAFKA_PORT', '19092')}"


def test_up_is_idempotent(bootstrap: str) -> None:
    again = kafka_sh("up")
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stderr or "not started by kafka.sh" in again.stderr


async def test_metadata_request_through_aiokafka(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        await admin.list_topics()
    finally:
        await admin.close()
    host, port = bootstrap.rsplit(":", 1)
    assert [(b["host"], b["port"]) for b in cluster["brokers"]] == [(host, int(port))]


def test_status_fails_when_no_broker_listens(tmp_path: Path) -> None:
    env = {**os.environ, "AGENTBUS_CACHE": str(tmp_path), "KAFKA_PORT": str(free_port())}
    status = kafka_sh("status", env=env)
    assert status.returncode != 0
    assert "not running" in status.stdout
