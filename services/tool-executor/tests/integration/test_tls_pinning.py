"""HTTPS through the pinned address: the connection goes to the checked IP, while SNI, Host
and the certificate check stay on the name (a real TLS server on 127.0.0.1, its own CA)."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tool_executor.domain import Implementation, SideEffect, ToolDefinition, ToolError
from tool_executor.egress import EgressPolicy
from tool_executor.http_tool import HttpRequestTool
from tool_executor.secrets import SecretResolver
from tool_executor.tools import ToolCall

pytestmark = pytest.mark.integration


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificates() -> tuple[bytes, bytes, bytes]:
    """A CA, and a leaf for `api.test` signed by it: (CA pem, leaf pem, leaf key pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("api.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.test")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


class Resolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # every test name: the TLS server below


@pytest.fixture
async def tls_server(tmp_path: Any) -> AsyncIterator[tuple[int, bytes, list[dict[str, str]]]]:
    ca, leaf, key = _certificates()
    (tmp_path / "leaf.pem").write_bytes(leaf)
    (tmp_path / "key.pem").write_bytes(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    seen: list[dict[str, str]] = []
    names: list[str] = []

    def note_sni(_sock: Any, name: str | None, _context: Any) -> None:
        names.append(name or "")

    context.sni_callback = note_sni

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        seen.append({"host": headers.get("Host", ""), "sni": names[-1] if names else ""})
        body = b'{"ok": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, ca, seen


def _call(url: str) -> ToolCall:
    definition = ToolDefinition(
        name="tls.get",
        version="1",
        side_effect=SideEffect.READ,
        timeout_s=5,
        implementation=Implementation(kind="builtin", name="http.request"),
    )
    return ToolCall(
        definition=definition,
        arguments={"url": url},
        tenant_id="acme",
        idempotency_key="k",
        secrets=SecretResolver({}, None),
        egress=EgressPolicy(hosts=["*.test"], allowed_networks=["127.0.0.1/32"]),
    )


async def test_https_goes_to_the_pinned_address_and_checks_the_certificate_by_name(
    tls_server: tuple[int, bytes, list[dict[str, str]]],
) -> None:
    port, ca, seen = tls_server
    tool = HttpRequestTool(max_response_bytes=1024, max_redirects=1, resolver=Resolver())
    tool.tls.load_verify_locations(cadata=ca.decode())
    try:
        result = await tool.run(_call(f"https://api.test:{port}/x"))
        assert result["body"] == {"ok": True}
        assert seen == [{"host": f"api.test:{port}", "sni": "api.test"}]
        # Another name on the same address: its certificate does not match, no call.
        with pytest.raises(ToolError) as caught:
            await tool.run(_call(f"https://other.test:{port}/x"))
        assert caught.value.code == "tool.unreachable"
        assert len(seen) == 1
    finally:
        await tool.aclose()
