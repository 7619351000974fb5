"""ASGI entry point: `uvicorn --factory gateway.main:create_app`."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import fastapi_offline
from fastapi import Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import State
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from common.app import Health, readiness
from common.auth import LAST_USED_RESOLUTION_SECONDS, Principal, check_key, principal_for, record_key_use, use_is_stale
from common.db import Database
from common.error_codes import ErrorCode
from common.errors import (
    ChiikiError,
    Unauthorized,
    allowed_methods,
    error_response,
    install_exception_handlers,
    method_not_allowed,
)
from common.logging import stamp_request_ids
from common.metrics import RATE_LIMITED, metrics_router
from common.observability import ObservabilityMiddleware, fastapi_telemetry
from common.openapi import error_responses, operation_ids
from common.requestid import current_request_id
from common.settings import Settings, get_settings
from gateway.console import mount_console
from gateway.front import PROXY_METHODS, GatewayApp, ProxiedPath, front_door
from gateway.identity import identity_router
from gateway.keystore import KeyStore, SessionKeyStore, open_key_store
from gateway.middleware import add_security_headers
from gateway.openapi import MergedDocument, ServiceDocumentUnavailable
from gateway.proxy import Forwarded, IdentitySigner, Timeouts, first_segment, forward, upstream_for
from gateway.ratelimit import Clock, Decision, RateLimiter
from gateway.upstreams import CALL_ERRORS, Upstream, build_upstreams, close_upstreams, open_upstreams

log = logging.getLogger("chiiki.gateway")
# Swagger UI's files from an installed package: /docs works with no internet.
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS_URL = "/static-offline-docs"


class GatewayReadiness(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"] = Field(description="the key store's database answered a query at the latest migration")
    services: dict[str, Literal["ready"]] = Field(
        description="each service by name, every one ready",
        examples=[{"subsidy": "ready", "matching": "ready", "mynapoint": "ready"}],
    )


def create_app(
    *,
    settings: Settings | None = None,
    db: Database | None = None,
    rate_limit_clock: Clock | None = None,
    key_store: KeyStore | None = None,
) -> GatewayApp:
    """The gateway, calling the services at the settings' URLs. Tests pass `db` (keys are then read through its
    sessions), a fake clock, or a `key_store`."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: GatewayApp) -> AsyncIterator[None]:
        owns_db = getattr(app.state, "db", None) is None
        if owns_db:
            app.state.db = Database.from_settings(settings)
        app.state.keys = key_store or (
            await open_key_store(settings.database_url) if owns_db else SessionKeyStore(app.state.db)
        )
        open_upstreams(app.state.upstreams)
        yield
        await close_upstreams(app.state.upstreams)
        await app.state.rate_limiter.close()
        await app.state.keys.close()
        if owns_db:
            await app.state.db.dispose()

    app = GatewayApp(
        title="chiiki",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=fastapi_telemetry(settings),
        generate_unique_id_function=operation_ids("gateway"),
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter.from_settings(settings, rate_limit_clock)
    app.state.upstreams = build_upstreams(settings)
    app.state.openapi = MergedDocument(app.openapi)
    if db is not None:
        app.state.db = db
    stamp_request_ids()
    install_exception_handlers(app)
    app.add_middleware(FrontDoor, settings=settings)
    app.add_middleware(ObservabilityMiddleware, service="gateway", on_response_start=add_security_headers)
    app.include_router(metrics_router())
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await request.app.state.openapi.get(request.app.state.upstreams))
        except ServiceDocumentUnavailable as exc:
            return error_response(ErrorCode.SERVICES_NOT_READY, str(exc))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="chiiki API",
            swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon.png",
        )

    @app.get("/healthz", tags=["health"], response_model=Health, summary="The gateway process is up")
    async def get_health() -> Health:
        """Liveness of the gateway alone: it asks neither its database nor the services."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=GatewayReadiness,
        summary="The key store and every service are ready",
        responses=error_responses(
            ErrorCode.DATABASE_UNAVAILABLE, ErrorCode.MIGRATIONS_PENDING, ErrorCode.SERVICES_NOT_READY
        ),
    )
    async def get_readiness(request: Request) -> JSONResponse:
        """Ready when the key store's database answers at the latest migration and every service's own readiness
        does; a 503 naming what is not ready otherwise."""
        own = await readiness(request.app.state.db)
        if own.status_code != 200:
            return own
        results = await asyncio.gather(
            *(_upstream_ready(name, upstream) for name, upstream in request.app.state.upstreams.items())
        )
        services = dict(results)
        if any(state != "ready" for state in services.values()):
            not_ready = ", ".join(f"{name} ({state})" for name, state in services.items() if state != "ready")
            return error_response(ErrorCode.SERVICES_NOT_READY, f"not ready: {not_ready}")
        return JSONResponse({"status": "ready", "database": "ok", "services": services})

    # A bare ASGI app, not a FastAPI endpoint: the proxy needs no parameter parsing or dependencies, and
    # FastAPI's per-route handling was a tenth of the gateway's CPU per proxied request.
    endpoint = ProxyEndpoint(settings, app.state)
    app.include_router(identity_router(endpoint.authenticate))
    mount_console(app)
    route = LabelledRoute("/{path:path}", endpoint, methods=list(PROXY_METHODS), include_in_schema=False)
    app.router.routes.append(route)
    if not settings.opentelemetry:
        app.lean = ProxiedPath(app, route, endpoint.handle, settings)
    return app


class FrontDoor:
    """CORS and the body cap for the gateway's own paths, as the lean path has them (gateway/front.py)."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.stack = front_door(app, settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stack(scope, receive, send)


class LabelledRoute(Route):
    """A Starlette route that names itself in the scope as FastAPI's routes do: metrics and logs label by it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class ProxyEndpoint:
    """Every path that is not the gateway's own: find the service, check the key and the rate limits, forward."""

    def __init__(self, settings: Settings, state: State):
        self.state = state
        self.signer = IdentitySigner(settings.internal_secret_bytes())
        self.uses = UseRecorder()
        self.timeouts = Timeouts.from_settings(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(scope, receive)
        await response(scope, receive, send)

    async def authenticate(self, request: Request) -> tuple[Principal, Decision]:
        """The key and rate limits checked as for a proxied request (GET /auth/whoami)."""
        return await self.caller(request.headers.get("authorization"), request.client.host if request.client else None)

    async def caller(
        self, authorization: str | None, address: str | None, *, webhook: bool = False
    ) -> tuple[Principal, Decision]:
        """The caller's principal from its key, and the rate limits' decision: a 401 for a bad key (which costs
        the address's tokens: guessing keys is rate-limited), a 429 when a bucket is empty."""
        state = self.state
        try:
            principal = await self.uses.authenticate(state.keys, state.db, authorization)
        except Unauthorized as exc:
            decision = await _enforce_rate_limit(state.rate_limiter, None, address)
            exc.headers = {**(exc.headers or {}), **decision.headers()}
            raise
        return principal, await _enforce_rate_limit(state.rate_limiter, principal.key_id, address, webhook=webhook)

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        path = scope["path"]
        upstream = upstream_for(path)
        if upstream is None:
            # A gateway path of its own (/healthz) asked with another method: this catch-all took it.
            request = Request(scope, receive)
            if methods := allowed_methods(request, skip=scope.get("route")):
                return method_not_allowed(request, methods)
            raise ChiikiError(f"no route for {path}", code=ErrorCode.NOT_FOUND)
        forwarded = Forwarded(scope)
        client = scope.get("client")
        principal, decision = await self.caller(
            forwarded.authorization, client[0] if client else None, webhook=first_segment(path) == "webhooks"
        )
        scope.setdefault("state", {})["principal"] = principal  # request.state.principal, for the access log
        forwarded.add([("x-request-id", current_request_id() or "")])
        forwarded.add(self.signer.headers(principal))
        response = await forward(scope, receive, self.state.upstreams[upstream], forwarded, self.timeouts)
        response.raw_headers.extend(decision.raw_headers())
        return response


class UseRecorder:
    """Records a key's last use at most once a minute per key in this process. The stored time alone would let
    every request that arrives while the first write is under way write too: the lot of them queue for the
    database's write lock (on SQLite, one writer at a time) when a busy key's minute comes round."""

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._recorded: dict[str, float] = {}  # key id → when this process last recorded it (monotonic)

    async def authenticate(self, keys: KeyStore, db: Database, authorization: str | None) -> Principal:
        api_key = await check_key(keys.get, authorization)
        if api_key is not None and use_is_stale(api_key) and self._due(api_key.id):
            await _record_use(db, api_key.id)
        return principal_for(api_key)

    def _due(self, key_id: str) -> bool:
        now = time.monotonic()
        if now - self._recorded.get(key_id, -LAST_USED_RESOLUTION_SECONDS) < LAST_USED_RESOLUTION_SECONDS:
            return False
        if len(self._recorded) >= self.MAX_KEYS:
            self._recorded.clear()
        self._recorded[key_id] = now
        return True


async def _record_use(db: Database, key_id: str) -> None:
    """Best effort: a busy database must not fail the caller's request over a last-used timestamp."""
    try:
        async with db.sessionmaker() as session:
            await record_key_use(session, key_id)
            await session.commit()
    except DBAPIError as exc:
        log.warning("could not record the use of key %s: %s", key_id, type(exc).__name__)


async def _enforce_rate_limit(
    limiter: RateLimiter, key_id: str | None, client_address: str | None, *, webhook: bool = False
) -> Decision:
    """The bucket's decision for this request; a 429 with Retry-After and the RateLimit fields if refused."""
    decision = await limiter.check(key_id, client_address, webhook=webhook)
    if not decision.allowed:
        kind = "key" if key_id else "address"
        RATE_LIMITED.labels(kind).inc()
        raise ChiikiError(
            f"too many requests for this {'API key' if key_id else 'client address'}; "
            f"retry after {decision.retry_after_seconds} s",
            code=ErrorCode.RATE_LIMITED,
            headers=decision.headers(),
        )
    return decision


async def _upstream_ready(name: str, upstream: Upstream) -> tuple[str, str]:
    try:
        status = await upstream.get_status("/readyz")
    except CALL_ERRORS as exc:
        return name, f"unreachable: {type(exc).__name__}"
    return name, "ready" if status == 200 else f"status {status}"
