"""The one way a chiiki service app is built: middleware, error handlers, health checks, database."""

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from common.auth import ANONYMOUS_PRINCIPAL, verify_principal
from common.db import Database
from common.error_codes import ErrorCode
from common.errors import error_response, install_exception_handlers
from common.logging import stamp_request_ids
from common.metrics import metrics_router
from common.migrations import current_revision, head_revision
from common.observability import ObservabilityMiddleware, fastapi_telemetry
from common.openapi import Operation, error_responses, has_inputs, install_error_documents, operation_ids
from common.schemas import refuse_deep_json
from common.settings import Settings, get_settings

# Reachable without the gateway's signature: probes, metrics and the API description.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect"})


class ServiceBoundaryMiddleware:
    """What every service does to a request before its routes, in one pure ASGI layer (each layer is one more call
    on every request): reads the principal the gateway signed and refuses requests that did not come through the
    gateway; and refuses JSON bodies nested too deep (only the gateway's bodies are read)."""

    def __init__(self, app: ASGIApp, secret: bytes, require_gateway: bool):
        self.app = app
        self.secret = secret
        self.require_gateway = require_gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        principal = verify_principal(
            headers.get(b"x-chiiki-principal", b"").decode("latin-1"),
            headers.get(b"x-chiiki-signature", b"").decode("latin-1"),
            self.secret,
        )
        if principal is None and self.require_gateway and scope["path"] not in OPEN_PATHS:
            response = error_response(ErrorCode.GATEWAY_REQUIRED, "requests must come through the chiiki gateway")
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal or ANONYMOUS_PRINCIPAL
        body_receive = await refuse_deep_json(scope, receive, send)
        if body_receive is not None:
            await self.app(scope, body_receive, send)


class Health(BaseModel):
    status: Literal["ok"] = Field(description="always `ok`: the process answers")


class Readiness(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"] = Field(description="the database answered a query")
    migration: str = Field(description="the alembic revision the database is at, which is the latest")


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health, summary="The process is up")
    async def get_health() -> Health:
        """Liveness: answers as long as the process serves requests; it reads nothing."""
        return Health(status="ok")

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="The database answers and its schema is at the latest migration",
        responses=error_responses(ErrorCode.DATABASE_UNAVAILABLE, ErrorCode.MIGRATIONS_PENDING),
    )
    async def get_readiness(request: Request) -> JSONResponse:
        """Readiness: a 503 while the database cannot be reached or its schema is behind the code."""
        return await readiness(request.app.state.db)

    return router


async def readiness(db: Database) -> JSONResponse:
    head = head_revision()
    try:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current = await current_revision(connection)
    except Exception as exc:  # any failure to reach the database means "not ready", never a 500
        return error_response(ErrorCode.DATABASE_UNAVAILABLE, f"database unreachable: {type(exc).__name__}")
    if current != head:
        return error_response(
            ErrorCode.MIGRATIONS_PENDING,
            f"database schema is at {current or 'nothing'}, expected {head}: run chiiki db upgrade",
        )
    return JSONResponse({"status": "ready", "database": "ok", "migration": current})


def service_error_codes(path: str, _method: str, operation: Operation) -> set[ErrorCode]:
    """The codes any operation of a service can answer, beyond those its route declares."""
    codes = {ErrorCode.INTERNAL_ERROR}
    if path not in OPEN_PATHS:
        codes |= {ErrorCode.GATEWAY_REQUIRED, ErrorCode.DATABASE_UNAVAILABLE}
    if has_inputs(operation):
        codes.add(ErrorCode.INVALID_INPUT)
    if operation.get("security"):
        codes |= {ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN}
    if "{" in path:  # a path parameter holding a slash can lead to another route, or to none
        codes |= {ErrorCode.NOT_FOUND, ErrorCode.METHOD_NOT_ALLOWED}
    return codes


def create_service_app(
    name: str, title: str, routers: Iterable[APIRouter], *, settings: Settings | None = None, db: Database | None = None
) -> FastAPI:
    """A service app. Tests pass `db` (their own database) and `settings`; processes read the environment."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_db = getattr(app.state, "db", None) is None
        if owns_db:
            app.state.db = Database.from_settings(settings)
        yield
        if owns_db:
            await app.state.db.dispose()

    app = FastAPI(
        title=title,
        version="0.1.0",
        lifespan=lifespan,
        telemetry=fastapi_telemetry(settings),
        generate_unique_id_function=operation_ids(name),
    )
    app.state.service = name
    app.state.settings = settings
    if db is not None:
        app.state.db = db
    stamp_request_ids()
    install_exception_handlers(app)
    app.add_middleware(
        ServiceBoundaryMiddleware, secret=settings.internal_secret_bytes(), require_gateway=settings.require_gateway
    )
    app.add_middleware(ObservabilityMiddleware, service=name)  # added last, so it runs first
    # The service's own routes first: a request is matched against the routers in turn, and nearly every one is
    # for them, not for the probes or the metrics.
    for router in routers:
        app.include_router(router)
    app.include_router(health_router())
    app.include_router(metrics_router())
    install_error_documents(app, service_error_codes)
    return app
