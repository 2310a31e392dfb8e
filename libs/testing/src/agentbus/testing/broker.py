"""Where tests find Kafka: $KAFKA_BOOTSTRAP_SERVERS, else testcontainers, else local KRaft."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["docker_available", "kafka_bootstrap_servers", "repo_root"]


def repo_root(start: Path) -> Path:
    """The nearest ancestor of `start` holding infra/kafka/kafka.sh."""
    for candidate in (start, *start.parents):
        if (candidate / "infra" / "kafka" / "kafka.sh").exists():
            return candidate
    raise FileNotFoundError(f"no agentbus checkout (infra/kafka/kafka.sh) above {start}")


def docker_available() -> bool:
    """True when a Docker daemon answers its /_ping on DOCKER_HOST or the default socket."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            name, _, port = host.removeprefix("tcp://").partition(":")
            conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (name, int(port or 2375))
        else:
            return False
        with conn:
            conn.settimeout(3)
            conn.connect(address)
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in conn.recv(1024)
    except (OSError, ValueError):
        return False


@contextmanager
def kafka_bootstrap_servers(root: Path) -> Iterator[str]:
    """Yield a bootstrap address for the whole test session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    script = root / "infra" / "kafka" / "kafka.sh"
    subprocess.run([str(script), "up"], check=True, stdout=subprocess.DEVNULL)
    address = subprocess.run(
        [str(script), "bootstrap"], check=True, capture_output=True, text=True
    ).stdout.strip()
    yield address
