"""free_port: ports a child process can bind, outside the range outgoing connections use."""

from __future__ import annotations

import socket
from pathlib import Path

from agentbus.testing import free_port


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20, "one port per server"
    assert all(port < max(low, 21_000) for port in ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises if something holds it


def test_a_port_something_listens_on_is_never_handed_out(monkeypatch) -> None:
    from agentbus.testing import ports

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        picks = iter([taken, taken, 23_456])
        monkeypatch.setattr(ports, "_ephemeral_range", lambda: (taken + 1, 60_999))
        monkeypatch.setattr(ports.random, "randrange", lambda a, b: next(picks))
        monkeypatch.setattr(ports, "_GIVEN", set())
        busy.listen()
        assert free_port() == 23_456
