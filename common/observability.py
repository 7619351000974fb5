"""What every process records of every request: its id, Prometheus figures and one access-log line.

One middleware rather than one per concern: each middleware wraps `send`, and every response message
passes through every wrapper, which the gateway pays for twice per proxied request.
"""

import logging
import time
from collections.abc import Callable, Iterable

from fastapi.telemetry import TelemetryConfig
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.metrics import LATENCY, REQUESTS, route_label
from common.requestid import HEADER, accept_request_id, bind_request_id, unbind_request_id
from common.settings import Settings

access_log = logging.getLogger("chiiki.access")


def fastapi_telemetry(settings: Settings) -> TelemetryConfig:
    """FastAPI's `telemetry` argument: its OpenTelemetry instrumentation only when the settings ask for it."""
    return {} if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False}


# Called with the scope and the response's start message before it is sent: a process's own response headers,
# added in the one `send` wrapper rather than in a middleware of their own.
StartHook = Callable[[Scope, Message], None]


class ObservabilityMiddleware:
    """Pure ASGI: keeps or makes the request id and echoes it, counts and times the request, logs it; and runs
    `on_response_start`, if given, on the response's start message."""

    def __init__(self, app: ASGIApp, service: str, on_response_start: StartHook | None = None):
        self.app = app
        self.service = service
        self.on_response_start = on_response_start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(_incoming_request_id(scope))
        token = bind_request_id(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self.on_response_start is not None:
                    self.on_response_start(scope, message)
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            unbind_request_id(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method, route = scope["method"], route_label(scope)
        REQUESTS.labels(self.service, method, route, str(status)).inc()
        LATENCY.labels(self.service, method, route).observe(seconds)
        principal = scope.get("state", {}).get("principal")
        access_log.info(
            "%s %s %s",
            method,
            scope["path"],
            status,
            extra={
                "service": self.service,
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "principal": principal.describe() if principal is not None else None,
            },
        )


def _incoming_request_id(scope: Scope) -> str | None:
    headers: Iterable[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("latin-1")
    return None
