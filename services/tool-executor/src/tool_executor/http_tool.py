"""The built-in HTTP request tool: allow-listed, SSRF-safe, size- and time-limited."""

from __future__ import annotations

import itertools
import json
import ssl
from typing import Any, Literal

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from .domain import ToolError
from .egress import CachingResolver, Resolver, SystemResolver, checked_addresses
from .tools import ToolCall

__all__ = ["HttpRequestTool", "Pool"]

Pool = Literal["aiohttp", "httpx"]
"""The connection pool under the httpx client."""

_REDIRECTS = {301, 302, 303, 307, 308}
_TRANSIENT = {408, 425, 429}
_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "upgrade"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DEFAULT_HEADERS = {
    "User-Agent": "agentbus-tool-executor",
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",  # decoded while the body streams in
}


class HttpRequestTool:
    """`{method, url | path, headers, query, json | body}` in; `{status, content_type, body}` out.

    Every hop (the first request and each redirect, followed here, never by httpx) passes
    the tenant's host allow-list and has *every* resolved address checked; the connection
    then goes to the address that was checked (the URL is rewritten to the IP, with Host
    and TLS SNI set to the name), so a second, different DNS answer (rebinding) is never
    used. Headers the definition configures (which may carry secrets) are sent only to
    the first request's origin.
    """

    forwards_idempotency_key = True  # every request carries the `Idempotency-Key` header

    def __init__(
        self,
        *,
        max_response_bytes: int,
        max_redirects: int,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        pool: Pool = "aiohttp",
        max_connections: int = 512,
        client_pools: int = 16,
        dns_cache_s: float = 30.0,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        self.resolver = resolver or CachingResolver(SystemResolver(), dns_cache_s)
        # One TLS context for all pools: building one loads the CA bundle (~0.1 s each).
        tls = httpx.create_ssl_context()
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is not None:
            self.transports = [transport]
        elif pool == "aiohttp":
            # httpx's API over aiohttp's connection pool: httpcore's pool spends ~1 ms of CPU
            # per request at 100+ in flight (it rescans every pooled connection per request,
            # see bench/tool_executor_bench.py), aiohttp's a fraction of that. aiohttp keys
            # pooled connections by the TLS server name too, so a pinned IP shared by two
            # names never reuses one name's verified connection for the other.
            self.transports = [_aiohttp(tls, limits)]
        else:
            # httpcore's pool bookkeeping serialises one pool's calls (~50 in flight at
            # most): several independent pools are used in turn.
            self.transports = [
                httpx.AsyncHTTPTransport(verify=tls, limits=limits, trust_env=False)
                for _ in range(max(1, client_pools))
            ]
        # Requests go straight to a transport, not through an httpx.AsyncClient: redirects
        # are followed here, and a client's cookie jar would carry one tenant's cookies
        # into another tenant's calls (proxies from the environment are never read).
        self._next = itertools.cycle(self.transports)

    async def aclose(self) -> None:
        """Close pooled connections."""
        for transport in self.transports:
            await transport.aclose()

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
        timeout = httpx.Timeout(call.definition.timeout_s)
        for _hop in range(self.max_redirects + 1):
            headers = dict(plain_headers)
            if (url.scheme, url.host, url.port) == origin:
                headers.update(secret_headers)
            response = await self._send(
                call, method, url, headers, content, json_body, args.get("query"), timeout
            )
            try:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or not location:
                    return await self._result(response, method, url)
            finally:
                await response.aclose()
            url = url.join(location)
            if response.status_code == 303 or (
                response.status_code in {301, 302} and method == "POST"
            ):
                method, content, json_body = "GET", None, None
        raise ToolError("tool.too_many_redirects", f"more than {self.max_redirects} redirects")

    def _target(self, args: dict[str, Any], config: dict[str, Any]) -> httpx.URL:
        base, path = config.get("base_url"), str(args.get("path") or "")
        # A base URL alone is the endpoint; a path, when given, is appended to it.
        raw = (
            (f"{str(base).rstrip('/')}/{path.lstrip('/')}" if path else str(base)) if base else None
        )
        try:
            url = httpx.URL(raw or str(args.get("url", "")))
        except (httpx.InvalidURL, TypeError) as exc:
            raise ToolError("tool.invalid_arguments", "url is not a valid URL") from exc
        if url.scheme not in _DEFAULT_PORTS or not url.host:
            raise ToolError("tool.invalid_arguments", "url must be an absolute http(s) URL")
        return url

    async def _send(
        self,
        call: ToolCall,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: Any,
        json_body: Any,
        query: Any,
        http_timeout: httpx.Timeout,
    ) -> httpx.Response:
        if url.scheme not in _DEFAULT_PORTS or not url.host:
            raise ToolError(
                "tool.egress_denied", f"{url.scheme!r} URLs are not followed", denied=True
            )
        port = url.port or _DEFAULT_PORTS[url.scheme]
        addresses = await checked_addresses(url.host, port, call.egress, self.resolver)
        pinned = url.copy_with(host=addresses[0])
        headers["Host"] = url.netloc.decode("ascii")
        extensions: dict[str, Any] = {"timeout": http_timeout.as_dict()}
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host  # certificate checked against the name
        request = httpx.Request(
            method,
            pinned,
            headers=_with_defaults(headers),
            params=query if isinstance(query, dict) else None,
            content=content if isinstance(content, str | bytes) else None,
            json=json_body,
            extensions=extensions,
        )
        try:
            return await next(self._next).handle_async_request(request)
        except httpx.TimeoutException as exc:
            raise ToolError(
                "tool.timeout", f"{method} {url.host} timed out", retryable=True
            ) from exc
        except httpx.TransportError as exc:
            raise ToolError(
                "tool.unreachable", f"{method} {url.host}: {type(exc).__name__}", retryable=True
            ) from exc

    async def _result(self, response: httpx.Response, method: str, url: httpx.URL) -> Any:
        status = response.status_code
        if status >= 400:
            raise ToolError(
                "tool.http_error",
                f"{method} {url.host} answered HTTP {status}",
                retryable=status >= 500 or status in _TRANSIENT,
            )
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise _too_large(self.max_response_bytes)
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > self.max_response_bytes:
                    raise _too_large(self.max_response_bytes)
        except httpx.TimeoutException as exc:
            raise ToolError(
                "tool.timeout", f"{method} {url.host} timed out", retryable=True
            ) from exc
        content_type = response.headers.get("content-type", "")
        text = bytes(body).decode(response.encoding or "utf-8", "replace")
        parsed: Any = text
        if "json" in content_type:
            try:
                parsed = json.loads(text) if text else None
            except json.JSONDecodeError:
                parsed = text
        return {"status": status, "content_type": content_type, "body": parsed}


def _aiohttp(tls: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    def session() -> aiohttp.ClientSession:
        # Made on first use, inside the event loop; cookies never kept (shared by tenants).
        connector = aiohttp.TCPConnector(
            ssl=tls, limit=limits.max_connections or 0, use_dns_cache=False
        )
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
        )

    return AiohttpTransport(verify=tls, limits=limits, trust_env=False, client=session)


def _with_defaults(headers: dict[str, str]) -> httpx.Headers:
    merged = httpx.Headers(_DEFAULT_HEADERS)
    merged.update(headers)  # case-insensitive: a caller's user-agent replaces ours
    return merged


def _too_large(limit: int) -> ToolError:
    return ToolError("tool.response_too_large", f"response body exceeds {limit} bytes")
