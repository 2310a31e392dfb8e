"""The built-in HTTP request tool: allow-listed, SSRF-safe, size- and time-limited."""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import httpx
from yarl import URL

from .domain import ToolError
from .egress import CachingResolver, Resolver, SystemResolver, checked_addresses
from .tools import ToolCall

__all__ = ["HttpRequestTool"]

_REDIRECTS = {301, 302, 303, 307, 308}
_TRANSIENT = {408, 425, 429}
_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "upgrade"}
_SCHEMES = {"http", "https"}
_DEFAULT_HEADERS = {"User-Agent": "agentbus-tool-executor", "Accept": "*/*"}
_CHUNK = 64 * 1024


class HttpRequestTool:
    """`{method, url | path, headers, query, json | body}` in; `{status, content_type, body}` out.

    Every hop (the first request and each redirect, followed here, never by the client)
    passes the tenant's host allow-list and has *every* resolved address checked; the
    connection then goes to the address that was checked (the URL is rewritten to the IP,
    with Host and TLS SNI set to the name), so a second, different DNS answer (rebinding)
    is never used. Headers the definition configures (which may carry secrets) are sent
    only to the first request's origin.

    The client is aiohttp's: at hundreds of calls in flight its pool costs a fraction of
    the CPU of httpx's (whose pool rescans every connection per request; see ADR 0302).
    It keys pooled connections by TLS server name too, so a pinned IP shared by two names
    never reuses one name's verified connection for the other. One pool serves every
    tenant, so it keeps no cookies and reads no proxy from the environment.
    """

    forwards_idempotency_key = True  # every request carries the `Idempotency-Key` header

    def __init__(
        self,
        *,
        max_response_bytes: int,
        max_redirects: int,
        resolver: Resolver | None = None,
        max_connections: int = 1024,
        dns_cache_s: float = 30.0,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        self.max_connections = max_connections
        self.resolver = resolver or CachingResolver(SystemResolver(), dns_cache_s)
        # The CA bundle httpx trusts (certifi), loaded once (~0.1 s).
        self.tls: ssl.SSLContext = httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop the calls run on.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=self.tls, limit=self.max_connections, use_dns_cache=False
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                auto_decompress=True,  # the size limit counts decompressed bytes
            )
        return self._session

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()

    async def run(self, call: ToolCall) -> Any:
        """Make the request, following redirects under the same checks."""
        args, config = call.arguments, call.config
        method = str(config.get("method") or args.get("method") or "GET").upper()
        url = self._target(args, config)
        origin = (url.scheme, url.host, url.port)
        secret_headers = {
            k: call.secrets.render(str(v)) for k, v in dict(config.get("headers", {})).items()
        }
        # The caller's headers never replace (or double) a configured one, in any case.
        taken = _FORBIDDEN_HEADERS | {k.lower() for k in secret_headers} | {"idempotency-key"}
        plain_headers = {
            str(k): str(v)
            for k, v in dict(args.get("headers") or {}).items()
            if str(k).lower() not in taken
        }
        plain_headers["Idempotency-Key"] = call.idempotency_key
        content, json_body = args.get("body"), args.get("json")
        if isinstance(content, str | bytes):
            json_body = None  # a raw body wins over a JSON one
        else:
            content = None
        query = _query(args.get("query"))
        limits = aiohttp.ClientTimeout(
            total=None, sock_connect=call.definition.timeout_s, sock_read=call.definition.timeout_s
        )
        for _hop in range(self.max_redirects + 1):
            headers = _DEFAULT_HEADERS | plain_headers
            if (url.scheme, url.host, url.port) == origin:
                headers |= secret_headers
            response = await self._send(
                call, method, url, headers, content, json_body, query, limits
            )
            try:
                location = response.headers.get("Location")
                if response.status not in _REDIRECTS or not location:
                    return await self._result(response, method, url)
            finally:
                response.release()
            url = _follow(url, location)
            if response.status == 303 or (response.status in {301, 302} and method == "POST"):
                method, content, json_body = "GET", None, None
        raise ToolError("tool.too_many_redirects", f"more than {self.max_redirects} redirects")

    def _target(self, args: dict[str, Any], config: dict[str, Any]) -> URL:
        base, path = config.get("base_url"), str(args.get("path") or "")
        # A base URL alone is the endpoint; a path, when given, is appended to it.
        raw = (
            (f"{str(base).rstrip('/')}/{path.lstrip('/')}" if path else str(base)) if base else None
        )
        try:
            url = URL(raw or str(args.get("url", "")))
        except (ValueError, TypeError) as exc:
            raise ToolError("tool.invalid_arguments", "url is not a valid URL") from exc
        if url.scheme not in _SCHEMES or not url.host:
            raise ToolError("tool.invalid_arguments", "url must be an absolute http(s) URL")
        return url

    async def _send(
        self,
        call: ToolCall,
        method: str,
        url: URL,
        headers: dict[str, str],
        content: str | bytes | None,
        json_body: Any,
        query: list[tuple[str, str]] | None,
        limits: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        if url.scheme not in _SCHEMES or not url.host or url.port is None:
            raise ToolError(
                "tool.egress_denied", f"{url.scheme!r} URLs are not followed", denied=True
            )
        name = url.raw_host or url.host
        addresses = await checked_addresses(url.host, url.port, call.egress, self.resolver)
        pinned = url.with_host(addresses[0])
        port = url.explicit_port
        headers["Host"] = f"{_bracketed(name)}:{port}" if port is not None else _bracketed(name)
        try:
            return await self._client().request(
                method,
                pinned,
                headers=headers,
                params=query,
                data=content,
                json=json_body,
                allow_redirects=False,
                timeout=limits,
                # The certificate is checked against the name, not the pinned address.
                server_hostname=name if url.scheme == "https" else None,
            )
        except TimeoutError as exc:
            raise ToolError(
                "tool.timeout", f"{method} {url.host} timed out", retryable=True
            ) from exc
        except aiohttp.ClientError as exc:
            raise ToolError(
                "tool.unreachable", f"{method} {url.host}: {type(exc).__name__}", retryable=True
            ) from exc

    async def _result(self, response: aiohttp.ClientResponse, method: str, url: URL) -> Any:
        status = response.status
        if status >= 400:
            raise ToolError(
                "tool.http_error",
                f"{method} {url.host} answered HTTP {status}",
                retryable=status >= 500 or status in _TRANSIENT,
            )
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise _too_large(self.max_response_bytes)
        body = bytearray()
        try:
            async for chunk in response.content.iter_chunked(_CHUNK):
                body.extend(chunk)
                if len(body) > self.max_response_bytes:
                    raise _too_large(self.max_response_bytes)
        except TimeoutError as exc:
            raise ToolError(
                "tool.timeout", f"{method} {url.host} timed out", retryable=True
            ) from exc
        except aiohttp.ClientError as exc:
            raise ToolError(
                "tool.unreachable", f"{method} {url.host}: {type(exc).__name__}", retryable=True
            ) from exc
        content_type = response.headers.get("Content-Type", "")
        text = bytes(body).decode(_charset(response), "replace")
        parsed: Any = text
        if "json" in content_type:
            try:
                parsed = json.loads(text) if text else None
            except json.JSONDecodeError:
                parsed = text
        return {"status": status, "content_type": content_type, "body": parsed}


def _follow(url: URL, location: str) -> URL:
    try:
        return url.join(URL(location))
    except (ValueError, TypeError) as exc:
        raise ToolError("tool.http_error", f"{url.host} redirected to an invalid URL") from exc


def _query(query: Any) -> list[tuple[str, str]] | None:
    """Query parameters as pairs; a list repeats its key, true/false/null as text."""
    if not isinstance(query, dict):
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((str(key), _text(item)))
    return pairs


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _charset(response: aiohttp.ClientResponse) -> str:
    charset = response.charset or "utf-8"
    try:
        "".encode(charset)
    except LookupError:
        return "utf-8"  # an unknown charset a server declared
    return charset


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _too_large(limit: int) -> ToolError:
    return ToolError("tool.response_too_large", f"response body exceeds {limit} bytes")
