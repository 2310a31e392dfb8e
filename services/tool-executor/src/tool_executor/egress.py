"""Egress policy for HTTP tools: host allow-list, then every resolved address checked."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .domain import ToolError

__all__ = [
    "CachingResolver",
    "EgressPolicy",
    "Resolver",
    "SystemResolver",
    "blocked_reason",
    "checked_addresses",
    "host_allowed",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints are named on their own: they hand out credentials.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
_CARRIER_NAT = ipaddress.ip_network("100.64.0.0/10")


class Resolver(Protocol):
    """Name resolution, a port so tests can make any name resolve anywhere."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ToolError("tool.dns_failed", f"cannot resolve {host!r}", retryable=True) from exc
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CachingResolver:
    """Answers of another resolver kept for `ttl_s` (failures are not kept).

    A name's addresses are checked on every call anyway; the cache saves the thread-pool
    hop of getaddrinfo per call, and within the TTL an attacker's DNS cannot switch them.
    """

    def __init__(self, resolver: Resolver, ttl_s: float = 30.0, max_names: int = 4096) -> None:
        self.resolver = resolver
        self.ttl_s = ttl_s
        self.max_names = max_names
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        now = time.monotonic()
        cached = self._answers.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        addresses = await self.resolver.resolve(host, port)
        if self.ttl_s > 0:
            if len(self._answers) >= self.max_names:
                self._answers.clear()
            self._answers[(host, port)] = (now + self.ttl_s, addresses)
        return addresses


@dataclass(frozen=True)
class EgressPolicy:
    """One tenant's egress rules for one tool, from its grant."""

    hosts: Sequence[str]
    allowed_networks: Sequence[str] = field(default_factory=tuple)

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The exempt networks, parsed."""
        return list(_networks(tuple(self.allowed_networks)))


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """True when `host` equals a pattern or matches a `*.domain` pattern (not the apex)."""
    name = host.lower().rstrip(".")
    for pattern in patterns:
        p = pattern.lower().rstrip(".")
        if p == name or (p.startswith("*.") and name.endswith(p[1:])):
            return True
    return False


def blocked_reason(address: str, policy: EgressPolicy) -> str | None:
    """Why `address` may not be reached under `policy`, or None when it may."""
    return _verdict(address, tuple(policy.allowed_networks))


@functools.lru_cache(maxsize=4096)
def _ip_literal(host: str) -> str | None:
    """The normalised address when `host` is an IP literal, else None (a name)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in cidrs)


# A pure function of its two strings, asked on every call with the same few: parse once.
@functools.lru_cache(maxsize=4096)
def _verdict(address: str, allowed_networks: tuple[str, ...]) -> str | None:
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    if any(ip in net for net in _networks(allowed_networks)):
        return None
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "a reserved address"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _CARRIER_NAT):
        return "a private address"
    if not ip.is_global:
        return "a non-public address"
    return None


async def checked_addresses(
    host: str, port: int, policy: EgressPolicy, resolver: Resolver
) -> list[str]:
    """Allow-listed `host` resolved, every address checked; ToolError (denied) otherwise."""
    if not host_allowed(host, policy.hosts):
        raise ToolError(
            "tool.egress_denied", f"host {host!r} is not on the tenant's allow-list", denied=True
        )
    literal = _ip_literal(host)
    addresses = [literal] if literal is not None else await resolver.resolve(host, port)
    if not addresses:
        raise ToolError("tool.dns_failed", f"{host!r} resolved to nothing", retryable=True)
    for address in addresses:
        reason = blocked_reason(address, policy)
        if reason is not None:
            # Every address must pass: a name resolving to one public and one private
            # address could otherwise be steered to the private one.
            raise ToolError(
                "tool.egress_denied",
                f"host {host!r} resolves to {reason} ({address}), which is blocked",
                denied=True,
            )
    return addresses
