"""The lean path of a proxied request: what the front door does to it, in as few layers as it takes.

A request for a service (`/subsidy/…`, `/matching/…`, `/mynapoint/…`, `/webhooks/…`, with a method the proxy
takes) skips the framework's stack (its error middleware, exception middleware, exit stack, router and route
matching): it runs the same observability layer (request id, metrics, access log, and the security headers in
the same `send` wrapper), CORS when configured, the body cap, then the proxy, whose errors become the same error
bodies through the app's own exception handlers. Every other request (the gateway's own paths, any other
method) goes through the whole FastAPI app. With OpenTelemetry on, every request does, so that all are traced.
"""

import inspect
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from common.error_codes import ErrorCode
from common.errors import error_response
from common.observability import ObservabilityMiddleware
from common.settings import Settings
from gateway.middleware import BodySizeLimitMiddleware, add_security_headers
from gateway.proxy import upstream_for

log = logging.getLogger("chiiki.gateway")
PROXY_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
CORS_EXPOSED = ["X-Request-ID", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]


def front_door(app: ASGIApp, settings: Settings) -> ASGIApp:
    """CORS for the configured origins, then the body cap, around `app` (outermost first)."""
    inner: ASGIApp = BodySizeLimitMiddleware(
        app, max_bytes=settings.max_body_bytes, route_max_bytes=settings.route_max_body_bytes
    )
    if origins := settings.cors_origin_list():
        inner = CORSMiddleware(
            inner,
            allow_origins=origins,
            allow_headers=CORS_HEADERS,
            allow_methods=list(PROXY_METHODS),
            expose_headers=CORS_EXPOSED,
            max_age=600,
        )
    return inner


class GatewayApp(FastAPI):
    """The gateway's FastAPI app, with the lean path for proxied requests once `lean` is set."""

    lean: "ProxiedPath | None" = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.lean is not None
            and scope["type"] == "http"
            and scope["method"] in PROXY_METHODS
            and upstream_for(scope["path"]) is not None
        ):
            scope["app"] = self
            await self.lean(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class ProxiedPath:
    """`handle` (the proxy: a request's scope in, a response out) behind the front door's layers; `route`, the proxy's
    catch-all route, is named in the scope for metrics and logs, as the router would have."""

    def __init__(
        self, app: FastAPI, route: Route, handle: Callable[[Scope, Receive], Awaitable[Response]], settings: Settings
    ):
        self.app = app
        self.route = route
        self.handle = handle
        # A failure outside the proxy's own handling (the body cap's, CORS'): the same logged 500 as everywhere.
        self.stack = ObservabilityMiddleware(
            front_door(self._proxy, settings),
            service="gateway",
            on_response_start=add_security_headers,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        await self.stack(scope, receive, send)

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.handle(scope, receive)
        except Exception as exc:
            response = await self._error_response(Request(scope, receive), exc)
        await response(scope, receive, send)

    async def _error_response(self, request: Request, exc: Exception) -> Response:
        """What the app's exception handler for this error answers; a logged 500 when none takes it."""
        for kind in type(exc).__mro__:
            handler = self.app.exception_handlers.get(kind)
            if handler is not None:
                answered = handler(request, exc)
                response: Response = await answered if inspect.isawaitable(answered) else answered
                return response
        log.exception("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return self._internal_error()

    @staticmethod
    def _internal_error() -> Response:
        return error_response(ErrorCode.INTERNAL_ERROR, "an unexpected error occurred; it has been logged")
