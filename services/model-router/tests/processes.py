"""Run the model-router as a real process (the `model-router` console script)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from agentbus.testing import free_port

ROUTER = Path(sys.executable).with_name("model-router")


class RouterProcess:
    """One router process; its log goes to a file for post-mortems."""

    def __init__(self, log_dir: Path, *, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "MODEL_ROUTER_HTTP__PORT": str(self.port)}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> RouterProcess:
        """Spawn and wait until /healthz answers."""
        return self.spawn().wait_ready(timeout_s)

    def spawn(self) -> RouterProcess:
        """Start the process without waiting."""
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([str(ROUTER)], env=self.env, stdout=log, stderr=log)
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> RouterProcess:
        """Wait until /healthz answers; fail early when the process died."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"router exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"router not up in {timeout_s}s: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def router_env(
    *,
    database_url: str,
    bootstrap: str,
    routing: Path,
    keys: dict[str, str],
    group: str,
    consume: bool,
    **extra: str,
) -> dict[str, str]:
    """Environment of a router process (the settings read MODEL_ROUTER_*)."""
    entries: list[dict[str, Any]] = [
        {"key": key, "tenant": tenant, "subject": f"user-{tenant}"} for tenant, key in keys.items()
    ]
    return {
        "MODEL_ROUTER_BUS__DATABASE_URL": database_url,
        "MODEL_ROUTER_BUS__BOOTSTRAP_SERVERS": bootstrap,
        # The broker's minimum: a killed member's partitions move 4 s sooner.
        "MODEL_ROUTER_BUS__SESSION_TIMEOUT_MS": "6000",
        "MODEL_ROUTER_BUS__CONSUMER_GROUP": group,
        "MODEL_ROUTER_HTTP__API_KEYS": json.dumps(entries),
        "MODEL_ROUTER_ROUTING_CONFIG": str(routing),
        "MODEL_ROUTER_CONSUME": "true" if consume else "false",
        "MODEL_ROUTER_LOG_LEVEL": "WARNING",
        **extra,
    }
