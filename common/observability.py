"""What every process does around every request: its id, Prometheus figures, one access-log line, and the logged
500 for an exception no handler took (inside, so that its body carries the request id; Starlette's own last
resort sits outside every middleware, where the id is gone).

One middleware rather than one per concern: each middleware wraps `send`, and every response message
passes through every wrapper, which the gateway pays for twice per proxied request.
"""

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import answer_unhandled_error
from common.metrics import LATENCY, REQUESTS, route_label
from common.requestid import HEADER, accept_request_id, bind_request_id, unbind_request_id
from common.settings import Settings

access_log = logging.getLogger("chiiki.access")


def fastapi_telemetry(settings: Settings) -> TelemetryConfig:
    """FastAPI's `telemetry` argument: its OpenTelemetry instrumentation only when the settings ask for it."""
    return {} if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False}


# Called with the scope and the response's headers before they are sent, to change them in place: a process's
# own response headers, added in the one `send` wrapper rather than in a middleware of their own.
StartHook = Callable[[Scope, list[tuple[bytes, bytes]]], None]
REQUEST_ID_HEADER = HEADER.encode()
# Distinct (method, route, status) series whose metric children are kept; beyond, the cache starts over.
MAX_CACHED_SERIES = 10_000


class ObservabilityMiddleware:
    """Pure ASGI: keeps or makes the request id and echoes it, counts and times the request, logs it; answers an
    exception raised before the response started with the logged 500 (one raised after is raised on: no body can
    follow); and runs `on_response_start`, if given, on the response's headers."""

    def __init__(self, app: ASGIApp, service: str, on_response_start: StartHook | None = None):
        self.app = app
        self.service = service
        self.on_response_start = on_response_start
        # prometheus_client's labels() costs more than the increment: each series' children are looked up once.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(_incoming_request_id(scope))
        token = bind_request_id(request_id)
        started = time.perf_counter()
        status = 0  # until the response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [pair for pair in message.get("headers", ()) if pair[0] != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                if self.on_response_start is not None:
                    self.on_response_start(scope, headers)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if status:
                raise
            await answer_unhandled_error(scope, receive, send_with_id)
        finally:
            self._record(scope, status or 500, time.perf_counter() - started)
            unbind_request_id(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method, route = scope["method"], route_label(scope)
        requests, latency = self._series.get((method, route, status)) or self._children(method, route, status)
        requests.inc()
        latency.observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            self._log(scope, method, route, status, seconds)

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        if len(self._series) >= MAX_CACHED_SERIES:
            self._series.clear()
        series = REQUESTS.labels(self.service, method, route, str(status)), LATENCY.labels(self.service, method, route)
        self._series[method, route, status] = series
        return series

    def _log(self, scope: Scope, method: str, route: str, status: int, seconds: float) -> None:
        principal = scope.get("state", {}).get("principal")
        extra = {
            "service": self.service,
            "method": method,
            "path": scope["path"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "principal": principal.describe() if principal is not None else None,
        }
        # The record made and handled directly: Logger.info would also look up its caller's frame, which no
        # access line shows, and that lookup was about a third of what a line cost.
        record = access_log.makeRecord(
            access_log.name, logging.INFO, "", 0, "%s %s %s", (method, scope["path"], status), None, extra=extra
        )
        access_log.handle(record)


def _incoming_request_id(scope: Scope) -> str | None:
    headers: Iterable[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("latin-1")
    return None
