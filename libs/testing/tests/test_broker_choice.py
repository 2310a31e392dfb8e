"""The broker fixture prefers KAFKA_BOOTSTRAP_SERVERS, and finds the checkout's scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbus.testing import kafka_bootstrap_servers, repo_root


def test_an_explicit_bootstrap_is_used_as_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    with kafka_bootstrap_servers(tmp_path) as address:  # tmp_path has no scripts: none run
        assert address == "127.0.0.1:1"


def test_repo_root_is_found_from_below_and_missing_elsewhere(tmp_path: Path):
    assert (repo_root(Path(__file__).parent) / "infra" / "kafka" / "kafka.sh").exists()
    with pytest.raises(FileNotFoundError, match=r"infra/kafka/kafka\.sh"):
        repo_root(tmp_path)


def test_docker_is_detected_by_its_ping(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import socket
    import threading

    from agentbus.testing import docker_available

    path = tmp_path / "docker.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    assert docker_available() is False, "no socket, no daemon"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")

        thread = threading.Thread(target=answer)
        thread.start()
        assert docker_available() is True
        thread.join(timeout=5)
