"""Egress checks: allow-list, every resolved address, metadata/private/loopback blocked."""

from __future__ import annotations

import pytest
from tool_executor.domain import ToolError
from tool_executor.egress import (
    EgressPolicy,
    SystemResolver,
    blocked_reason,
    checked_addresses,
    host_allowed,
)


class StaticResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int) -> list[str]:
        return self.answers[host]


OPEN = EgressPolicy(hosts=["*"])


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("0.0.0.0", "reserved"),
        ("224.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_blocked(address: str, reason: str) -> None:
    blocked = blocked_reason(address, OPEN)
    assert blocked is not None
    assert reason in blocked


def test_public_addresses_pass_and_networks_can_be_exempted() -> None:
    assert blocked_reason("93.184.216.34", OPEN) is None
    assert blocked_reason("2606:2800:220:1:248:1893:25c8:1946", OPEN) is None
    exempt = EgressPolicy(hosts=["*"], allowed_networks=["10.0.0.0/8"])
    assert blocked_reason("10.1.2.3", exempt) is None
    assert blocked_reason("169.254.169.254", exempt) is not None


def test_host_allow_list_patterns() -> None:
    assert host_allowed("api.example.com", ["api.example.com"])
    assert host_allowed("API.example.com.", ["api.example.com"])
    assert host_allowed("a.b.example.com", ["*.example.com"])
    assert not host_allowed("example.com", ["*.example.com"])
    assert not host_allowed("evil-example.com", ["*.example.com"])
    assert not host_allowed("api.example.com.evil.net", ["api.example.com"])


async def test_every_resolved_address_is_checked() -> None:
    policy = EgressPolicy(hosts=["mixed.test", "private.test", "public.test"])
    resolver = StaticResolver(
        {
            "mixed.test": ["93.184.216.34", "10.0.0.7"],
            "private.test": ["10.0.0.7"],
            "public.test": ["93.184.216.34"],
        }
    )
    assert await checked_addresses("public.test", 443, policy, resolver) == ["93.184.216.34"]
    for host in ("mixed.test", "private.test"):
        with pytest.raises(ToolError) as caught:
            await checked_addresses(host, 443, policy, resolver)
        assert caught.value.denied
        assert "private address" in caught.value.message


async def test_hosts_off_the_allow_list_are_never_resolved() -> None:
    with pytest.raises(ToolError) as caught:
        await checked_addresses(
            "other.test", 443, EgressPolicy(hosts=["x.test"]), StaticResolver({})
        )
    assert caught.value.code == "tool.egress_denied"
    assert "allow-list" in caught.value.message


async def test_the_real_resolver_path_blocks_localhost() -> None:
    with pytest.raises(ToolError) as caught:
        await checked_addresses(
            "localhost", 80, EgressPolicy(hosts=["localhost"]), SystemResolver()
        )
    assert caught.value.denied
    assert "loopback" in caught.value.message
