"""Request ids: kept from `X-Request-ID` when the caller sends a sane one, generated otherwise.

The id lives in a context variable for the duration of the request, so that log records, error
bodies and (later) ledger rows can carry it without threading it through every call.
"""

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.metrics import route_label

HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
access_log = logging.getLogger("chiiki.access")


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's id if it is a short token, else a fresh one (never echo arbitrary bytes into logs)."""
    if value and _VALID.match(value):
        return value
    return new_request_id()


class RequestIdMiddleware:
    """Pure ASGI middleware: sets the id, echoes it on the response, writes one access-log line."""

    def __init__(self, app: ASGIApp, service: str):
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = accept_request_id(incoming)
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            principal = scope.get("state", {}).get("principal")
            access_log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"service": self.service, "method": scope["method"], "path": scope["path"],
                       "route": route_label(scope),
                       "status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                       "principal": principal.describe() if principal is not None else None},
            )
            _request_id.reset(token)
