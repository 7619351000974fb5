"""What the front door adds to every exchange: security headers and a cap on request bodies."""

from starlette.types import ASGIApp, Receive, Scope, Send

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


RawHeaders = list[tuple[bytes, bytes]]
SECURITY_HEADERS: RawHeaders = [(name.encode(), value.encode()) for name, value in API_SECURITY_HEADERS.items()]


def _with_csp(policy: str) -> RawHeaders:
    return [
        (name, policy.encode() if name == b"content-security-policy" else value) for name, value in SECURITY_HEADERS
    ]


DOCS_SECURITY_HEADERS = _with_csp(DOCS_CSP)
CONSOLE_SECURITY_HEADERS = _with_csp(CONSOLE_CSP)
SECURITY_HEADER_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)
NO_STORE = (b"cache-control", b"no-store")


def _security_headers(path: str) -> RawHeaders:
    if path.startswith(DOCS_PATHS):
        return DOCS_SECURITY_HEADERS
    if path == CONSOLE_PATH or path.startswith(f"{CONSOLE_PATH}/"):
        return CONSOLE_SECURITY_HEADERS
    return SECURITY_HEADERS


def add_security_headers(scope: Scope, headers: RawHeaders) -> None:
    """The front door's headers, in place of any the app set, on a response's headers (ObservabilityMiddleware's
    start hook); and no-store unless the app set its own cache-control."""
    kept = [pair for pair in headers if pair[0] not in SECURITY_HEADER_NAMES]
    cached = any(name == b"cache-control" for name, _ in kept)
    kept += _security_headers(scope["path"])
    if not cached:
        kept.append(NO_STORE)
    headers[:] = kept


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
