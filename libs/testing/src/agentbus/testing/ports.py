"""Ports for servers a test starts in another process, chosen so that nothing takes them first."""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

_LOWEST = 20_000  # above the development broker's ports (19092, 19093)
_GIVEN: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on, below the kernel's ephemeral range.

    Binding port 0 gives an ephemeral port: the range every outgoing connection (a Kafka
    client's, say) draws its local port from, so between the check and a child process
    binding it, a connection may take it and the child fails with "address already in
    use". Ports below that range are only ever taken by an explicit bind. A port is
    handed out once per process, so the servers of one stack never share one.
    """
    first_ephemeral = _ephemeral_range()[0]
    for _ in range(1_000):
        port = random.randrange(_LOWEST, first_ephemeral)
        if port not in _GIVEN and _bindable(port):
            _GIVEN.add(port)
            return port
    raise RuntimeError(f"no free port between {_LOWEST} and {first_ephemeral}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return max(int(low), _LOWEST + 1_000), int(high)
    except (OSError, ValueError):  # not Linux: the IANA dynamic range starts at 49152
        return 49_152, 65_535
