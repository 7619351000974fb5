"""ASGI entry point: `uvicorn --factory gateway.main:create_app`."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError

from common.app import readiness
from common.auth import Principal, find_key, principal_for, record_key_use, use_is_stale
from common.db import Database
from common.errors import ChiikiError, Unauthorized, error_response, install_error_handlers
from common.logging import stamp_request_ids
from common.metrics import RATE_LIMITED, MetricsMiddleware, metrics_router
from common.requestid import RequestIdMiddleware
from common.settings import Settings, get_settings
from gateway.middleware import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from gateway.openapi import MergedDocument, ServiceDocumentUnavailable
from gateway.proxy import build_clients, forward, route_setting, upstream_for
from gateway.ratelimit import Clock, RateLimiter

log = logging.getLogger("chiiki.gateway")
PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
# Swagger UI's files from an installed package: /docs works with no internet.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/static-offline-docs"
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
CORS_EXPOSED = ["X-Request-ID", "Retry-After"]


def create_app(*, settings: Settings | None = None, db: Database | None = None,
               transports: dict[str, httpx.AsyncBaseTransport] | None = None,
               rate_limit_clock: Clock | None = None) -> FastAPI:
    """The gateway. Tests pass `db`, in-process `transports` to the service apps, and a fake clock."""
    settings = settings or get_settings()
    secret = settings.internal_secret_bytes()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_db = getattr(app.state, "db", None) is None
        if owns_db:
            app.state.db = Database.from_url(settings.database_url)
        app.state.upstreams = build_clients(settings, transports)
        yield
        await asyncio.gather(*(client.aclose() for client in app.state.upstreams.values()))
        await app.state.rate_limiter.close()
        if owns_db:
            await app.state.db.dispose()

    app = FastAPI(title="chiiki", version="0.1.0", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter.from_settings(settings, rate_limit_clock)
    app.state.openapi = MergedDocument(app.openapi)
    if db is not None:
        app.state.db = db
    stamp_request_ids()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes,
                       route_max_bytes=settings.route_max_body_bytes)
    if settings.cors_origin_list():
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list(), allow_headers=CORS_HEADERS,
                           allow_methods=PROXY_METHODS, expose_headers=CORS_EXPOSED, max_age=600)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, service="gateway")
    app.add_middleware(RequestIdMiddleware, service="gateway")
    app.include_router(metrics_router())
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await request.app.state.openapi.get(request.app.state.upstreams))
        except ServiceDocumentUnavailable as exc:
            return error_response(503, "services_not_ready", str(exc))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="chiiki API",
                                   swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png")

    @app.get("/healthz", tags=["health"], summary="The gateway process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The key store and every service are ready",
             responses={503: {"description": "not ready"}})
    async def readyz(request: Request) -> JSONResponse:
        own = await readiness(request.app.state.db)
        if own.status_code != 200:
            return own
        results = await asyncio.gather(*(_upstream_ready(name, client)
                                         for name, client in request.app.state.upstreams.items()))
        services = dict(results)
        if any(state != "ready" for state in services.values()):
            not_ready = ", ".join(f"{name} ({state})" for name, state in services.items() if state != "ready")
            return error_response(503, "services_not_ready", f"not ready: {not_ready}")
        return JSONResponse({"status": "ready", "database": "ok", "services": services})

    @app.api_route("/{path:path}", methods=PROXY_METHODS, include_in_schema=False)
    async def proxy(request: Request) -> Response:
        upstream = upstream_for(request.url.path)
        upstream_segment = request.url.path.lstrip("/").split("/", 1)[0]
        if upstream is None:
            raise ChiikiError(f"no route for {request.url.path}", code="not_found", status_code=404)
        limiter, address = request.app.state.rate_limiter, request.client.host if request.client else None
        try:
            principal = await _authenticate(request.app.state.db, request.headers.get("authorization"))
        except Unauthorized:
            await _enforce_rate_limit(limiter, None, address)  # guessing keys costs the address's tokens
            raise
        request.state.principal = principal
        await _enforce_rate_limit(limiter, principal.key_id, address, webhook=upstream_segment == "webhooks")
        timeout = route_setting(request.method, request.url.path, settings.upstream_timeout_seconds,
                                settings.upstream_route_timeouts)
        return await forward(request, request.app.state.upstreams[upstream], upstream, principal, secret, timeout)

    return app


async def _authenticate(db: Database, authorization: str | None) -> Principal:
    async with db.reader() as session:
        api_key = await find_key(session, authorization)
    if api_key is not None and use_is_stale(api_key):
        await _record_use(db, api_key.id)
    return principal_for(api_key)


async def _record_use(db: Database, key_id: str) -> None:
    """Best effort: a busy database must not fail the caller's request over a last-used timestamp."""
    try:
        async with db.sessionmaker() as session:
            await record_key_use(session, key_id)
            await session.commit()
    except DBAPIError as exc:
        log.warning("could not record the use of key %s: %s", key_id, type(exc).__name__)


async def _enforce_rate_limit(limiter: RateLimiter, key_id: str | None, client_address: str | None,
                              *, webhook: bool = False) -> None:
    decision = await limiter.check(key_id, client_address, webhook=webhook)
    if not decision.allowed:
        kind = "key" if key_id else "address"
        RATE_LIMITED.labels(kind).inc()
        raise ChiikiError(f"too many requests for this {'API key' if key_id else 'client address'}; "
                          f"retry after {decision.retry_after_seconds} s", code="rate_limited", status_code=429,
                          headers={"Retry-After": str(decision.retry_after_seconds)})


async def _upstream_ready(name: str, client: httpx.AsyncClient) -> tuple[str, str]:
    try:
        response = await client.get("/readyz")
    except httpx.HTTPError as exc:
        return name, f"unreachable: {type(exc).__name__}"
    return name, "ready" if response.status_code == 200 else f"status {response.status_code}"
