"""The platform as processes for end-to-end tests: a private broker, every service, the shop.

Not a test module (it holds no test): the harness the test_platform*.py modules load. Each
stack gets its own KRaft broker (so restarting it touches no other test), its own ports,
databases, API keys, trace file and the demo's shop, with the demo's workflow published
through the planner's review lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from agentbus.testing import free_port, read_to_end

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SERVICES = ("planner", "model-router", "tool-executor", "guardrail", "approval", "audit")
WORKFLOW = "refund-triage-governed"
TENANT = "acme"


def wait_until(
    check: Callable[[], bool], *, timeout_s: float, what: str, every_s: float = 0.2
) -> None:
    """Poll `check` until true; AssertionError naming `what` after `timeout_s` (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(every_s)


@dataclass
class Broker:
    """A private single-node broker run by infra/kafka/kafka.sh with its own cache and ports."""

    home: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AGENTBUS_CACHE": str(self.home),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HEAP_OPTS": "-Xmx384m -Xms128m",
        }

    def _share_jars(self) -> None:
        # The jars of the shared cache (installed by `make kafka-up`), not a second download.
        shared = ROOT / ".cache" / "kafka"
        mine = self.home / "kafka"
        mine.mkdir(parents=True, exist_ok=True)
        if (shared / "libs").is_dir() and not (mine / "libs").exists():
            (mine / "libs").symlink_to(shared / "libs")
            shutil.copy(shared / "libs.sha256", mine / "libs.sha256")

    def up(self) -> None:
        self._share_jars()
        subprocess.run(
            [str(ROOT / "infra/kafka/kafka.sh"), "up"],
            env=self._env(),
            check=True,
            capture_output=True,
            timeout=180,
        )

    def down(self) -> None:
        subprocess.run(
            [str(ROOT / "infra/kafka/kafka.sh"), "down"],
            env=self._env(),
            check=False,
            capture_output=True,
            timeout=120,
        )


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                cwd=self.log.parent,
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def ready(self) -> bool:
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(
                f"{self.name} exited ({self.popen and self.popen.returncode}): {tail}"
            )
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs."""
        if self.popen is not None and self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self, grace_s: float = 20) -> None:
        if self.popen is None or not self.alive():
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()


class PlatformStack:
    """Every service (``replicas`` processes each) on a private broker, provisioned for the demo."""

    def __init__(
        self, home: Path, *, replicas: int = 1, database_urls: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.replicas = replicas
        self.database_urls = database_urls or {}
        self.timings: dict[str, float] = {}
        self.broker = Broker(home / "broker")
        self.shop_port = free_port()
        self.traces_port = free_port()
        self.traces_file = home / "traces.jsonl"
        self.processes: dict[str, Process] = {}
        self.keys = {s: "ak_" + secrets.token_urlsafe(24) for s in ("olivia", "rita", "dana")}

    # set-up --------------------------------------------------------------------------------

    def _write_config(self) -> None:
        config = self.home / "config"
        shutil.copytree(ROOT / "demo/config", config)
        tools = (config / "tools" / "shop.yaml").read_text()
        (config / "tools" / "shop.yaml").write_text(
            tools.replace("127.0.0.1:8090", f"127.0.0.1:{self.shop_port}")
        )
        roles = {
            "olivia": ["operator", "tool-admin", "auditor"],
            "rita": ["reviewer"],
            "dana": ["approver", "refunds-lead"],
        }
        entries = [
            {
                "key_sha256": hashlib.sha256(k.encode()).hexdigest(),
                "tenant": TENANT,
                "subject": s,
                "roles": roles[s],
            }
            for s, k in self.keys.items()
        ]
        (self.home / "api-keys.json").write_text(json.dumps(entries))

    def service_env(self, name: str, index: int, port: int) -> dict[str, str]:
        prefix = name.upper().replace("-", "_") + "_"
        config = self.home / "config"
        env = {
            **os.environ,
            f"{prefix}BUS__BOOTSTRAP_SERVERS": self.broker.bootstrap,
            # Replicas of a service share its database, as in production (PostgreSQL there).
            f"{prefix}BUS__DATABASE_URL": f"sqlite:///{self.home}/db/{name}.db",
            f"{prefix}BUS__CONSUMER_GROUP": name,
            f"{prefix}BUS__CLIENT_ID": f"{name}-{index}",
            f"{prefix}HTTP__HOST": "127.0.0.1",
            f"{prefix}HTTP__PORT": str(port),
            f"{prefix}HTTP__API_KEYS_FILE": str(self.home / "api-keys.json"),
            f"{prefix}TELEMETRY__OTLP_ENDPOINT": f"http://127.0.0.1:{self.traces_port}",
            f"{prefix}TELEMETRY__METRIC_EXPORT_INTERVAL_MS": "600000",
            f"{prefix}LOG_LEVEL": "WARNING",
            # Read by OpenTelemetry's resource detector: tells the replicas' spans apart.
            "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={name}-{index}",
        }
        if self.database_urls:
            env[f"{prefix}BUS__DATABASE_URL"] = self.database_urls[name]
        env.update(
            {
                "model-router": {"MODEL_ROUTER_ROUTING_CONFIG": str(config / "routing.yaml")},
                "tool-executor": {
                    "TOOL_EXECUTOR_TOOLS_DIR": str(config / "tools"),
                    "TOOL_EXECUTOR_GRANTS_FILE": str(config / "grants.yaml"),
                },
                "guardrail": {"GUARDRAIL_POLICY_DIR": str(config / "policies")},
                "audit": {"AUDIT_SIGNING__PRIVATE_KEY_FILE": str(self.home / "audit-signing.key")},
            }.get(name, {})
        )
        return env

    def _add(self, key: str, command: list[str], env: dict[str, str], port: int) -> Process:
        logs = self.home / "logs"
        process = Process(key, command, env, logs / f"{key}.log", port)
        self.processes[key] = process
        return process

    def start(self) -> None:
        for sub in ("logs", "db"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self._write_config()
        began = time.monotonic()
        self.broker.up()
        self.timings["broker_up_s"] = time.monotonic() - began
        subprocess.run(
            [str(VENV_BIN / "agentbus"), "topics", "create", "--bootstrap", self.broker.bootstrap],
            check=True,
            capture_output=True,
            timeout=120,
        )
        py = sys.executable
        self._add(
            "traces",
            [
                py,
                str(ROOT / "infra/otel/file_sink.py"),
                "--port",
                str(self.traces_port),
                "--out",
                str(self.traces_file),
            ],
            dict(os.environ),
            self.traces_port,
        )
        self._add(
            "shop",
            [
                py,
                str(ROOT / "demo/shop.py"),
                "--port",
                str(self.shop_port),
                "--state",
                str(self.home / "shop.json"),
            ],
            dict(os.environ),
            self.shop_port,
        )
        for name in SERVICES:
            for index in range(self.replicas):
                port = free_port()
                self._add(
                    f"{name}-{index}",
                    [str(VENV_BIN / name)],
                    self.service_env(name, index, port),
                    port,
                )
        began = time.monotonic()
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            wait_until(process.ready, timeout_s=240, what=f"{process.name} ready")
        self.timings["services_ready_s"] = time.monotonic() - began
        self.publish_workflow()
        print(f"platform stack up: {self.timings}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.popen is not None and process.alive():
                process.popen.terminate()
        for process in self.processes.values():
            process.stop()
        self.broker.down()

    def restart(self, key: str) -> None:
        process = self.processes[key]
        process.stop()
        process.start()
        wait_until(process.ready, timeout_s=180, what=f"{key} ready again")

    # APIs ----------------------------------------------------------------------------------

    def url(self, service: str, path: str, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.processes[f'{service}-{index}'].port}{path}"

    def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        as_: str = "olivia",
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        return httpx.request(
            method,
            self.url(service, path),
            json=body,
            params=params,
            headers={"X-API-Key": self.keys[as_]},
            timeout=30,
        )

    def publish_workflow(self) -> None:
        source = (ROOT / "demo/workflows" / f"{WORKFLOW}.yaml").read_text()
        head = yaml.safe_load(source)
        created = self.call("planner", "POST", "/v1/definitions", body={"source": source})
        assert created.status_code == 201, created.text
        for action, actor in (("submit", "olivia"), ("approve", "rita"), ("publish", "rita")):
            moved = self.call(
                "planner",
                "POST",
                f"/v1/definitions/{head['name']}/{head['version']}/{action}",
                as_=actor,
            )
            assert moved.status_code == 200, moved.text

    def submit(self, task_id: str, order_id: str, message: str) -> str:
        response = self.call(
            "planner",
            "POST",
            "/v1/tasks",
            body={
                "task_id": task_id,
                "workflow": WORKFLOW,
                "input": {"order_id": order_id, "message": message},
            },
        )
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])

    def run(self, run_id: str) -> dict[str, Any] | None:
        response = self.call("planner", "GET", f"/v1/runs/{run_id}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def refunds(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(
            f"http://127.0.0.1:{self.shop_port}/payments/refunds", timeout=30
        ).json()
        return found

    def spans(self) -> list[dict[str, Any]]:
        if not self.traces_file.exists():
            return []
        return [json.loads(line) for line in self.traces_file.read_text().splitlines() if line]


# Kafka as any client sees it (aiokafka, plain headers and JSON: no agentbus code) -------------


def task_record(task_id: str, order_id: str, message: str) -> tuple[dict[str, str], bytes]:
    """A task as an upstream system publishes it: CloudEvents headers and a JSON value."""
    headers = {
        "ce_id": str(uuid.uuid4()),
        "ce_source": "urn:acme:load",
        "ce_type": "agentbus.task.submitted.v1",
        "ce_specversion": "1.0",
        "ce_tenantid": TENANT,
    }
    value = {
        "task_id": task_id,
        "workflow": WORKFLOW,
        "input": {"order_id": order_id, "message": message},
        "requested_by": {"kind": "system", "id": "load"},
    }
    return headers, json.dumps(value).encode()


def publish(bootstrap: str, topic: str, records: list[tuple[str, dict[str, str], bytes]]) -> None:
    """Publish (key, headers, value) records with acks=all."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        try:
            futures = [
                await producer.send(
                    topic, value, key=key.encode(), headers=[(k, v.encode()) for k, v in h.items()]
                )
                for key, h, value in records
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(send())


async def partitions_of(bootstrap: str, topic: str) -> set[int]:
    """The topic's partitions (a producer fetches metadata for one topic on demand)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return set(await producer.partitions_for(topic))
    finally:
        await producer.stop()


async def stop(consumer: AIOKafkaConsumer) -> None:
    # aiokafka's consumer without a group cancels its commit-reset task on stop and may re-raise
    # that CancelledError; the consumer is closed either way.
    with contextlib.suppress(asyncio.CancelledError):
        await consumer.stop()


def read_topic(bootstrap: str, topic: str) -> list[tuple[dict[str, str], bytes]]:
    """Every record of `topic` up to its current end (headers decoded, value raw)."""
    records = asyncio.run(read_to_end(bootstrap, topic, timeout_s=60))
    return [
        ({k: v.decode(errors="replace") for k, v in r.headers}, r.value or b"") for r in records
    ]


def topics_with_records(bootstrap: str, suffix: str) -> dict[str, int]:
    """Topics named *suffix (e.g. .dlq) that hold records, with their record counts."""

    async def counts() -> dict[str, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            found: dict[str, int] = {}
            for topic in sorted(await consumer.topics()):
                if not topic.endswith(suffix):
                    continue
                tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
                starts = await consumer.beginning_offsets(tps)
                ends = await consumer.end_offsets(tps)
                total = sum(ends[tp] - starts[tp] for tp in tps)
                if total:
                    found[topic] = total
            return found
        finally:
            await stop(consumer)

    return asyncio.run(counts())


# PostgreSQL: one database per service (replicas share it) --------------------------------------


def create_databases(admin_url: str, tag: str) -> dict[str, str]:
    """A fresh database per service on the test server; service name -> SQLAlchemy URL."""
    import psycopg

    base = admin_url.replace("postgresql+psycopg://", "postgresql://")
    urls = {}
    with psycopg.connect(base, autocommit=True) as conn:
        for name in SERVICES:
            db = f"e2e_{tag}_{name.replace('-', '_')}"
            conn.execute(f'CREATE DATABASE "{db}"')
            urls[name] = admin_url.rsplit("/", 1)[0] + "/" + db
    return urls


def drop_databases(admin_url: str, urls: dict[str, str]) -> None:
    import psycopg

    base = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        for url in urls.values():
            # The services have stopped; a connection still closing only leaves a stale database.
            with contextlib.suppress(psycopg.errors.ObjectInUse):
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"')
