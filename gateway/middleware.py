"""What the front door adds to every exchange: security headers and a cap on request bodies."""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.error_codes import ErrorCode
from common.errors import error_response
from common.schemas import BodyTooLarge, read_body
from gateway.proxy import route_setting

API_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-resource-policy": "same-origin",
}
# Swagger UI runs its own scripts and styles (served by the gateway itself, never from a CDN).
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/static-offline-docs/")
# The console (gateway/console/) runs only its own files: no inline script or style, no other origin.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
CONSOLE_PATH = "/console"


def add_security_headers(scope: Scope, message: Message) -> None:
    """The front door's headers on a response's start message (ObservabilityMiddleware's start hook)."""
    headers = MutableHeaders(scope=message)
    for name, value in API_SECURITY_HEADERS.items():
        headers[name] = value
    path = scope["path"]
    if path.startswith(DOCS_PATHS):
        headers["content-security-policy"] = DOCS_CSP
    elif path == CONSOLE_PATH or path.startswith(f"{CONSOLE_PATH}/"):
        headers["content-security-policy"] = CONSOLE_CSP
    if "cache-control" not in headers:
        headers["cache-control"] = "no-store"


class BodySizeLimitMiddleware:
    """413 for a body over `max_bytes`: at once from Content-Length, or while a chunked body is read.

    A body without Content-Length is read whole (up to the limit) before the request goes on, so that a
    service never receives the first part of a body the gateway then refuses.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, route_max_bytes: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.route_max_bytes = route_max_bytes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = int(route_setting(scope["method"], scope["path"], self.max_bytes, self.route_max_bytes))
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await self._refuse(scope, receive, send, ErrorCode.BAD_REQUEST, "Content-Length must be a number")
            elif int(length) > limit:
                await self._refuse_too_large(scope, receive, send, limit)
            else:
                await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        try:
            _, replay = await read_body(receive, limit)
        except BodyTooLarge:
            await self._refuse_too_large(scope, receive, send, limit)
            return
        await self.app(scope, replay, send)

    async def _refuse_too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        await self._refuse(
            scope, receive, send, ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes"
        )

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, code: ErrorCode, message: str) -> None:
        response = error_response(code, message, headers={"connection": "close"})
        await response(scope, receive, send)
