"""Reverse proxy to the services over aiohttp's client (gateway/upstreams.py), from the ASGI scope as it came.

The caller's headers are forwarded in one pass over the scope's, less the hop-by-hop ones and what only the
gateway may say (identity, request id, forwarding chain); request and response bodies stream through.
Only a GET or HEAD that could not connect is retried (once): nothing else is, because a POST that may
have reached a service (a grant, a payment, a settlement) must never be sent twice.
"""

import re
import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from common.auth import IDENTITY_HEADERS, Principal, sign_principal
from common.error_codes import ErrorCode
from common.errors import error_response
from common.metrics import UPSTREAM_ERRORS
from common.settings import Settings
from gateway.upstreams import Upstream

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
# A path or query a URL may carry as it is: printable ASCII, already percent-encoded.
URL_PART = re.compile(rb"[!-~]*")
# What aiohttp refuses in a header value (it would be a header injection); the server let it through.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def upstream_for(path: str) -> str | None:
    return ROUTES.get(first_segment(path))


class IdentitySigner:
    """The signed identity headers of a principal, signed once a second per principal rather than per request:
    the signature covers the principal and the current second, nothing of the request."""

    MAX_PRINCIPALS = 10_000

    def __init__(self, secret: bytes):
        self.secret = secret
        self._second = 0
        self._signed: dict[Principal, list[tuple[str, str]]] = {}

    def headers(self, principal: Principal) -> list[tuple[str, str]]:
        now = int(time.time())
        if now != self._second or len(self._signed) > self.MAX_PRINCIPALS:
            self._second, self._signed = now, {}
        signed = self._signed.get(principal)
        if signed is None:
            signed = list(sign_principal(principal, self.secret, now).items())
            self._signed[principal] = signed
        return signed


def header_text(value: bytes) -> str:
    """A header value as the text aiohttp writes back out as UTF-8: the same bytes when they are UTF-8 (or
    ASCII); otherwise each byte as its ISO-8859-1 character, which is what RFC 9110 lets such a byte mean."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


class Forwarded:
    """What the caller's request headers say that the proxy needs, and the headers that go on to the service."""

    __slots__ = ("authorization", "chunked", "content_length", "headers")

    def __init__(self, scope: Scope):
        self.authorization: str | None = None
        self.content_length: bytes | None = None
        self.chunked = False
        self.headers: list[tuple[str, str]] = []
        forwarded_for: str | None = None
        for name, value in scope["headers"]:
            if name not in DROPPED_REQUEST_HEADERS:
                if name == b"content-length":
                    self.content_length = value
                self.headers.append((name.decode("latin-1"), header_text(value)))
            elif name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded_for = header_text(value)
            elif name == b"transfer-encoding":
                self.chunked = True
        client = scope.get("client")
        chain = ", ".join(hop for hop in (forwarded_for, client[0] if client else None) if hop)
        if chain:
            self.headers.append(("x-forwarded-for", chain))

    def add(self, headers: list[tuple[str, str]]) -> None:
        self.headers.extend(headers)

    def control_character_in(self) -> str | None:
        """The name of a forwarded header whose value aiohttp would refuse to write, if any."""
        return next((name for name, value in self.headers if CONTROL_CHARACTER.search(value)), None)


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


async def _body(scope: Scope, receive: Receive, forwarded: Forwarded) -> bytes | AsyncIterator[bytes] | None:
    if forwarded.chunked:
        return Request(scope, receive).stream()
    length = forwarded.content_length
    if not length or length == b"0":
        return None
    request = Request(scope, receive)
    return await request.body() if int(length) <= BUFFERED_BODY_BYTES else request.stream()


def _target(scope: Scope) -> str | None:
    """The path and query as the caller sent them, still percent-encoded (decoding the path first would turn
    %0B into a raw control character that no URL may carry); None when they are no valid URL."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string") or b""
    if not URL_PART.fullmatch(raw_path) or not URL_PART.fullmatch(query):
        return None
    return (raw_path + b"?" + query if query else raw_path).decode("ascii")


class Timeouts:
    """The aiohttp timeouts of a request: the route's own (upstream_route_timeouts) or the default, each
    waiting for the pool, connecting within the connect timeout, and every read within the route's."""

    def __init__(self, default_seconds: float, connect_seconds: float, overrides: Mapping[str, float]):
        self.default_seconds, self.connect_seconds, self.overrides = default_seconds, connect_seconds, overrides
        self._by_seconds: dict[float, aiohttp.ClientTimeout] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "Timeouts":
        default, connect = settings.upstream_timeout_seconds, settings.upstream_connect_timeout_seconds
        return cls(default, connect, settings.upstream_route_timeouts)

    def for_route(self, method: str, path: str) -> tuple[float, aiohttp.ClientTimeout]:
        seconds = self.default_seconds
        if self.overrides:
            seconds = route_setting(method, path, seconds, self.overrides)
        timeout = self._by_seconds.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(connect=seconds, sock_connect=self.connect_seconds, sock_read=seconds)
            self._by_seconds[seconds] = timeout
        return seconds, timeout


async def _send(
    upstream: Upstream,
    method: str,
    target: str,
    forwarded: Forwarded,
    body: bytes | AsyncIterator[bytes] | None,
    timeout: aiohttp.ClientTimeout,
) -> aiohttp.ClientResponse:
    url = upstream.url(target)
    for attempt in (1, 2):
        try:
            return await upstream.session.request(
                method, url, headers=forwarded.headers, data=body, timeout=timeout, allow_redirects=False
            )
        except aiohttp.ClientConnectorError:
            if attempt == 2 or method not in RETRIED_METHODS:
                raise
            UPSTREAM_ERRORS.labels(upstream.name, "connect_retried").inc()
    raise AssertionError("unreachable")  # the loop returns or raises


class UpstreamResponse(Response):
    """The service's answer as it arrives: status, headers (less hop-by-hop ones), then the body.

    The body is sent one chunk behind, so that a body of one chunk (most JSON answers) goes out as a single
    final message rather than a chunk and an empty end.
    """

    def __init__(self, upstream: aiohttp.ClientResponse):
        self.upstream = upstream
        self.status_code = upstream.status
        self.background = None
        headers = ((name.lower(), value) for name, value in upstream.raw_headers)
        self.raw_headers = [(name, value) for name, value in headers if name not in DROPPED_RESPONSE_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            held = b""
            async for chunk in self.upstream.content.iter_any():
                if held:
                    await send({"type": "http.response.body", "body": held, "more_body": True})
                held = chunk
            await send({"type": "http.response.body", "body": held, "more_body": False})
        finally:
            self.upstream.release()


async def forward(
    scope: Scope,
    receive: Receive,
    upstream: Upstream,
    forwarded: Forwarded,
    timeouts: Timeouts,
) -> Response:
    """The service's answer to this request, or the error body of a call that failed."""
    target = _target(scope)
    if target is None:
        return error_response(ErrorCode.BAD_REQUEST, "the request URL is not valid")
    method = scope["method"]
    seconds, timeout = timeouts.for_route(method, scope["path"])
    try:
        answer = await _send(upstream, method, target, forwarded, await _body(scope, receive, forwarded), timeout)
    except TimeoutError:
        UPSTREAM_ERRORS.labels(upstream.name, "timeout").inc()
        return error_response(
            ErrorCode.UPSTREAM_TIMEOUT, f"the {upstream.name} service did not answer within {seconds:g} s"
        )
    except aiohttp.ClientConnectorError:
        UPSTREAM_ERRORS.labels(upstream.name, "connect_error").inc()
        return error_response(ErrorCode.UPSTREAM_UNAVAILABLE, f"the {upstream.name} service is unreachable")
    except aiohttp.ClientError:
        UPSTREAM_ERRORS.labels(upstream.name, "unreachable").inc()
        return error_response(ErrorCode.UPSTREAM_UNAVAILABLE, f"the {upstream.name} service is unreachable")
    except ValueError:
        # aiohttp writes no header with a control character in it; say which one, as the caller sent it.
        if (name := forwarded.control_character_in()) is None:
            raise
        return error_response(ErrorCode.BAD_REQUEST, f"the {name} header holds a control character", field=name)
    return UpstreamResponse(answer)
