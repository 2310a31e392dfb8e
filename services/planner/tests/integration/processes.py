"""The planner as a real OS process (its console script), for crash and replica tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from agentbus.testing import eventually, free_port

from .conftest import KEYS, Env

PLANNER = Path(sys.executable).with_name("planner")


@dataclass
class PlannerProcess:
    """`planner` run with PLANNER_* variables pointing at the test's topics and database."""

    env: Env
    database_url: str
    log: Path
    name: str = "planner"
    port: int = 0
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def variables(self) -> dict[str, str]:
        keys = [{"key": k, "tenant": t, "subject": s, "roles": r} for k, (t, s, r) in KEYS.items()]
        return {
            **os.environ,
            "PLANNER_BUS__BOOTSTRAP_SERVERS": self.env.bootstrap,
            # The broker's minimum: a killed member's partitions move 4 s sooner.
            "PLANNER_BUS__SESSION_TIMEOUT_MS": "6000",
            "PLANNER_BUS__CONSUMER_GROUP": self.env.group,
            "PLANNER_BUS__CLIENT_ID": f"{self.env.group}-{self.name}",
            "PLANNER_BUS__DATABASE_URL": self.database_url,
            "PLANNER_BUS__OUTBOX_RELAY_INTERVAL_S": "0.2",
            "PLANNER_BUS__OUTBOX_RELAY_GRACE_S": "0.5",
            "PLANNER_BUS__COMMIT_INTERVAL_S": "0.2",
            "PLANNER_TOPIC_PREFIX": self.env.prefix,
            "PLANNER_BUS__TIMER_POLL_INTERVAL_S": "0.1",
            "PLANNER_HTTP__PORT": str(self.port),
            "PLANNER_HTTP__API_KEYS": json.dumps(keys),
            "PLANNER_LOG_LEVEL": "WARNING",
        }

    async def start(self) -> None:
        self.port = free_port()
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(PLANNER), "serve", env=self.variables(), stdout=out, stderr=out
            )

        async def ready() -> bool:
            assert self.process is not None
            assert self.process.returncode is None, self.log.read_text()[-3000:]
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"{self.url}/readyz", timeout=2)
                    return response.status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout_s=60, what="planner process ready")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=20)
            except TimeoutError:
                self.process.kill()
                with contextlib.suppress(ProcessLookupError):
                    await self.process.wait()
        elif self.process is not None:
            await self.process.wait()


async def group_client_ids(bootstrap: str, group: str) -> set[str]:
    """Client ids of the members of a consumer group now (empty when it has none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        members = response.groups[0][5]
        return {str(member[1]) for member in members}
    finally:
        await admin.close()
