"""Reverse proxy to the services over one shared httpx client per upstream.

httpx keeps the API; its transport is aiohttp's (httpx-aiohttp), which proxies about twice the requests
per second of httpx's default transport under 50 connections (bench/results/gateway_transport.md). Request and response bodies stream through.
Only a GET or HEAD that could not connect is retried (once): nothing else is, because a POST that may
have reached a service (a grant, a payment, a settlement) must never be sent twice.
"""

import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from common.auth import IDENTITY_HEADERS, Principal, sign_principal
from common.errors import error_response
from common.metrics import UPSTREAM_ERRORS
from common.requestid import current_request_id
from common.settings import Settings

# Which service answers which first path segment.
ROUTES = {"subsidy": "subsidy", "matching": "matching", "mynapoint": "mynapoint", "webhooks": "mynapoint"}

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host"})
# Never forwarded from the caller: its API key stays at the gateway, and identity comes only from us.
# The gateway's own server writes these.
DROPPED_RESPONSE_HEADERS = HOP_BY_HOP | {"date", "server"}
DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {"authorization", "x-request-id", *IDENTITY_HEADERS}
RETRIED_METHODS = frozenset({"GET", "HEAD"})


def upstream_urls(settings: Settings) -> dict[str, str]:
    return {"subsidy": settings.subsidy_url, "matching": settings.matching_url, "mynapoint": settings.mynapoint_url}


def build_clients(settings: Settings,
                  transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> dict[str, httpx.AsyncClient]:
    timeout = httpx.Timeout(settings.upstream_timeout_seconds, connect=settings.upstream_connect_timeout_seconds)
    limits = httpx.Limits(max_connections=settings.upstream_max_connections,
                          max_keepalive_connections=settings.upstream_max_connections)
    transports = transports or {}
    return {
        name: httpx.AsyncClient(
            base_url=url, timeout=timeout,
            transport=transports.get(name) or AiohttpTransport(limits=limits, trust_env=False),
        )
        for name, url in upstream_urls(settings).items()
    }


def upstream_for(path: str) -> str | None:
    return ROUTES.get(path.lstrip("/").split("/", 1)[0])


def _forward_headers(request: Request, principal: Principal, secret: bytes) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k not in DROPPED_REQUEST_HEADERS]
    client = request.client.host if request.client else None
    if client:
        previous = request.headers.get("x-forwarded-for")
        headers = [(k, v) for k, v in headers if k != "x-forwarded-for"]
        headers.append(("x-forwarded-for", f"{previous}, {client}" if previous else client))
    headers.append(("x-request-id", current_request_id() or ""))
    headers.extend(sign_principal(principal, secret).items())
    return headers


def route_setting(method: str, path: str, default: float, overrides: dict[str, float]) -> float:
    """The value of the longest `"METHOD /path-prefix"` in `overrides` that matches, else `default`."""
    best, best_length = default, -1
    for route, seconds in overrides.items():
        route_method, _, prefix = route.partition(" ")
        if route_method.upper() == method and path.startswith(prefix) and len(prefix) > best_length:
            best, best_length = seconds, len(prefix)
    return best


def _has_body(request: Request) -> bool:
    return "transfer-encoding" in request.headers or request.headers.get("content-length", "0") not in ("", "0")


async def _send(client: httpx.AsyncClient, upstream_request: httpx.Request, upstream: str) -> httpx.Response:
    try:
        return await client.send(upstream_request, stream=True)
    except httpx.ConnectError:
        if upstream_request.method not in RETRIED_METHODS:
            raise
        UPSTREAM_ERRORS.labels(upstream, "connect_retried").inc()
        return await client.send(upstream_request, stream=True)


async def forward(request: Request, client: httpx.AsyncClient, upstream: str, principal: Principal,
                  secret: bytes, timeout_seconds: float) -> Response:
    # The path as the caller sent it, still percent-encoded: decoding it first would turn %0B into a raw
    # control character that no URL may carry.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    try:
        url = httpx.URL(path=raw_path.decode("latin-1"), query=request.url.query.encode("latin-1"))
    except httpx.InvalidURL:
        return error_response(400, "bad_request", "the request URL is not valid")
    upstream_request = client.build_request(
        request.method,
        url,
        headers=_forward_headers(request, principal, secret),
        content=request.stream() if _has_body(request) else None,
        timeout=httpx.Timeout(timeout_seconds, connect=client.timeout.connect),
    )
    try:
        upstream_response = await _send(client, upstream_request, upstream)
    except httpx.TimeoutException:
        UPSTREAM_ERRORS.labels(upstream, "timeout").inc()
        return error_response(504, "upstream_timeout",
                              f"the {upstream} service did not answer within {timeout_seconds:g} s")
    except httpx.HTTPError:
        UPSTREAM_ERRORS.labels(upstream, "unreachable").inc()
        return error_response(502, "upstream_unavailable", f"the {upstream} service is unreachable")
    headers = [(k, v) for k, v in upstream_response.headers.multi_items() if k.lower() not in DROPPED_RESPONSE_HEADERS]
    response = StreamingResponse(upstream_response.aiter_raw(), status_code=upstream_response.status_code,
                                 background=BackgroundTask(upstream_response.aclose))
    response.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response
