"""ASGI entry point: `uvicorn --factory gateway.main:create_app`."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from common.app import readiness
from sqlalchemy.exc import DBAPIError

from common.auth import Principal, find_key, principal_for, record_key_use, use_is_stale
from common.db import Database
from common.errors import ChiikiError, error_response, install_error_handlers
from common.logging import stamp_request_ids
from common.requestid import RequestIdMiddleware
from common.settings import Settings, get_settings
from gateway.proxy import build_clients, forward, upstream_for

log = logging.getLogger("chiiki.gateway")
PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(*, settings: Settings | None = None, db: Database | None = None,
               transports: dict[str, httpx.AsyncBaseTransport] | None = None) -> FastAPI:
    """The gateway. Tests pass `db` and in-process `transports` to the service apps."""
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
        if owns_db:
            await app.state.db.dispose()

    app = FastAPI(title="chiiki gateway", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    stamp_request_ids()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware, service="gateway")

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
        if upstream is None:
            raise ChiikiError(f"no route for {request.url.path}", code="not_found", status_code=404)
        authorization = request.headers.get("authorization")
        principal = await _authenticate(request.app.state.db, authorization)
        request.state.principal = principal
        return await forward(request, request.app.state.upstreams[upstream], upstream, principal, secret,
                             settings.upstream_timeout_seconds)

    return app


async def _authenticate(db: Database, authorization: str | None) -> Principal:
    async with db.sessionmaker() as session:
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


async def _upstream_ready(name: str, client: httpx.AsyncClient) -> tuple[str, str]:
    try:
        response = await client.get("/readyz")
    except httpx.HTTPError as exc:
        return name, f"unreachable: {type(exc).__name__}"
    return name, "ready" if response.status_code == 200 else f"status {response.status_code}"
