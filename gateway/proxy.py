"""Reverse proxy to the services: one shared httpx transport per upstream, called directly.

httpx keeps the API (tests hand in transports to in-process service apps); the deployed transport is
aiohttp's (httpx-aiohttp), which proxies about twice the requests per second of httpx's default transport
under 50 connections (bench/results/gateway_transport.md). The proxy calls the transport itself rather than
an httpx client: the client's cookie, redirect and auth layers do nothing for a proxy but cost CPU on every
request. Request and response bodies stream through.
Only a GET or HEAD that could not connect is retried (once): nothing else is, because a POST that may
have reached a service (a grant, a payment, a settlement) must never be sent twice.
"""

import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from common.auth import IDENTITY_HEADERS, Principal, sign_principal
from common.error_codes import ErrorCode
from common.errors import error_response
from common.metrics import UPSTREAM_ERRORS
from common.requestid import current_request_id
from common.settings import Settings

# Which service answers which first path segment.
ROUTES = {"subsidy": "subsidy", "matching": "matching", "mynapoint": "mynapoint", "webhooks": "mynapoint"}

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
# Never forwarded from the caller: its API key stays at the gateway, and identity comes only from us.
# The gateway's own server writes these.
DROPPED_RESPONSE_HEADERS = frozenset(name.encode() for name in HOP_BY_HOP | {"date", "server"})
DROPPED_REQUEST_HEADERS = frozenset(
    name.encode() for name in HOP_BY_HOP | {"authorization", "x-request-id", "x-forwarded-for", *IDENTITY_HEADERS}
)
RETRIED_METHODS = frozenset({"GET", "HEAD"})


def upstream_urls(settings: Settings) -> dict[str, str]:
    return {"subsidy": settings.subsidy_url, "matching": settings.matching_url, "mynapoint": settings.mynapoint_url}


def build_transports(
    settings: Settings, given: dict[str, httpx.AsyncBaseTransport] | None = None
) -> dict[str, httpx.AsyncBaseTransport]:
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections, max_keepalive_connections=settings.upstream_max_connections
    )
    given = given or {}
    return {
        name: given.get(name) or AiohttpTransport(limits=limits, trust_env=False) for name in upstream_urls(settings)
    }


def build_clients(settings: Settings, transports: dict[str, httpx.AsyncBaseTransport]) -> dict[str, httpx.AsyncClient]:
    """Clients for the gateway's own calls (readiness, API documents), on the proxy's transports; closing a
    client closes its transport."""
    timeout = httpx.Timeout(settings.upstream_timeout_seconds, connect=settings.upstream_connect_timeout_seconds)
    return {
        name: httpx.AsyncClient(base_url=url, timeout=timeout, transport=transports[name])
        for name, url in upstream_urls(settings).items()
    }


def upstream_for(path: str) -> str | None:
    return ROUTES.get(path.lstrip("/").split("/", 1)[0])


class IdentitySigner:
    """The signed identity headers of a principal, signed once a second per principal rather than per request:
    the signature covers the principal and the current second, nothing of the request."""

    MAX_PRINCIPALS = 10_000

    def __init__(self, secret: bytes):
        self.secret = secret
        self._second = 0
        self._signed: dict[Principal, list[tuple[bytes, bytes]]] = {}

    def headers(self, principal: Principal) -> list[tuple[bytes, bytes]]:
        now = int(time.time())
        if now != self._second or len(self._signed) > self.MAX_PRINCIPALS:
            self._second, self._signed = now, {}
        signed = self._signed.get(principal)
        if signed is None:
            fields = sign_principal(principal, self.secret, now)
            signed = [(name.encode(), value.encode()) for name, value in fields.items()]
            self._signed[principal] = signed
        return signed


def _forward_headers(request: Request, principal: Principal, signer: IdentitySigner) -> list[tuple[bytes, bytes]]:
    """The caller's headers as the bytes it sent (a value may hold any byte but CR, LF and NUL, which the
    server already refused), less the dropped ones, plus the forwarding chain, the request id and our signature."""
    headers = [(name, value) for name, value in request.headers.raw if name not in DROPPED_REQUEST_HEADERS]
    client = request.client.host if request.client else None
    chain = ", ".join(hop for hop in (request.headers.get("x-forwarded-for"), client) if hop)
    if chain:
        headers.append((b"x-forwarded-for", chain.encode("latin-1")))
    headers.append((b"x-request-id", (current_request_id() or "").encode()))
    headers.extend(signer.headers(principal))
    return headers


def route_setting(method: str, path: str, default: float, overrides: Mapping[str, float]) -> float:
    """The value of the longest `"METHOD /path-prefix"` in `overrides` that matches, else `default`."""
    best, best_length = default, -1
    for route, seconds in overrides.items():
        route_method, _, prefix = route.partition(" ")
        if route_method.upper() == method and path.startswith(prefix) and len(prefix) > best_length:
            best, best_length = seconds, len(prefix)
    return best


# A body up to this size is read whole and sent as bytes; a larger or chunked one streams through. Streaming a
# small JSON body costs the proxy more CPU than the body is worth.
BUFFERED_BODY_BYTES = 64 * 1024


async def _body(request: Request) -> bytes | AsyncIterator[bytes] | None:
    if "transfer-encoding" in request.headers:
        return request.stream()
    length = request.headers.get("content-length", "0")
    if length in ("", "0"):
        return None
    return await request.body() if int(length) <= BUFFERED_BODY_BYTES else request.stream()


def _as_connect_error(exc: httpx.TimeoutException, request: httpx.Request) -> httpx.HTTPError:
    """The error the transport meant. httpx-aiohttp maps every aiohttp connection error, a refused connection
    included, to ConnectTimeout (its most general mapping wins over ConnectError); the aiohttp error it chains
    tells which it was. Only aiohttp's own timeouts are timeouts."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ServerTimeoutError) or not isinstance(cause, aiohttp.ClientConnectionError):
        return exc
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc), request=request)
    return httpx.RemoteProtocolError(str(exc), request=request)  # the service closed the connection


async def _call(transport: httpx.AsyncBaseTransport, upstream_request: httpx.Request) -> httpx.Response:
    try:
        return await transport.handle_async_request(upstream_request)
    except httpx.TimeoutException as exc:
        raise _as_connect_error(exc, upstream_request) from exc.__cause__


async def _send(transport: httpx.AsyncBaseTransport, upstream_request: httpx.Request, upstream: str) -> httpx.Response:
    try:
        return await _call(transport, upstream_request)
    except httpx.ConnectError:
        if upstream_request.method not in RETRIED_METHODS:
            raise
        UPSTREAM_ERRORS.labels(upstream, "connect_retried").inc()
        return await _call(transport, upstream_request)


class UpstreamResponse(Response):
    """The service's answer as it arrives: status, headers (less hop-by-hop ones), then the body.

    The body is sent one chunk behind, so that a body of one chunk (most JSON answers) goes out as a single
    final message rather than a chunk and an empty end.
    """

    def __init__(self, upstream: httpx.Response):
        self.upstream = upstream
        self.status_code = upstream.status_code
        self.background = None
        self.raw_headers = [
            (name.lower(), value)
            for name, value in upstream.headers.raw
            if name.lower() not in DROPPED_RESPONSE_HEADERS
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            held = b""
            async for chunk in self.upstream.aiter_raw():
                if held:
                    await send({"type": "http.response.body", "body": held, "more_body": True})
                held = chunk
            await send({"type": "http.response.body", "body": held, "more_body": False})
        finally:
            await self.upstream.aclose()


async def forward(
    request: Request,
    transport: httpx.AsyncBaseTransport,
    base_url: httpx.URL,
    upstream: str,
    principal: Principal,
    signer: IdentitySigner,
    timeout: httpx.Timeout,
) -> Response:
    # The path as the caller sent it, still percent-encoded: decoding it first would turn %0B into a raw
    # control character that no URL may carry.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    try:
        # Under the service URL's own path, if it has one (a service published at http://host/chiiki/).
        path = base_url.raw_path.rstrip(b"/") + raw_path
        url = base_url.copy_with(raw_path=path + b"?" + query if query else path)
    except httpx.InvalidURL:
        return error_response(ErrorCode.BAD_REQUEST, "the request URL is not valid")
    upstream_request = httpx.Request(
        request.method,
        url,
        headers=_forward_headers(request, principal, signer),
        content=await _body(request),
        extensions={"timeout": timeout.as_dict()},
    )
    try:
        upstream_response = await _send(transport, upstream_request, upstream)
    except httpx.TimeoutException:
        UPSTREAM_ERRORS.labels(upstream, "timeout").inc()
        return error_response(
            ErrorCode.UPSTREAM_TIMEOUT, f"the {upstream} service did not answer within {timeout.read:g} s"
        )
    except httpx.ConnectError:
        UPSTREAM_ERRORS.labels(upstream, "connect_error").inc()
        return error_response(ErrorCode.UPSTREAM_UNAVAILABLE, f"the {upstream} service is unreachable")
    except httpx.HTTPError:
        UPSTREAM_ERRORS.labels(upstream, "unreachable").inc()
        return error_response(ErrorCode.UPSTREAM_UNAVAILABLE, f"the {upstream} service is unreachable")
    return UpstreamResponse(upstream_response)
