"""One error type and the handlers that turn every failure into the error body of API.md.

    {"error": {"code": "...", "message": "...", "field": "..."?, "request_id": "..."}}
"""

import logging
import sqlite3

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError as SqlAlchemyDataError
from sqlalchemy.exc import OperationalError as SqlAlchemyOperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.requestid import current_request_id

log = logging.getLogger("chiiki.errors")

class ChiikiError(Exception):
    """A domain or request error: a stable machine code, a message for people, an HTTP status."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 status_code: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.field = field
        self.status_code = status_code or self.status_code
        self.headers = headers


class NotFound(ChiikiError):
    status_code = 404
    code = "not_found"


class Unauthorized(ChiikiError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "a valid API key is required", **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(ChiikiError):
    status_code = 403
    code = "forbidden"


class Conflict(ChiikiError):
    status_code = 409
    code = "conflict"


class Unprocessable(ChiikiError):
    status_code = 422
    code = "invalid_input"


def error_body(code: str, message: str, field: str | None = None) -> dict:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    error["request_id"] = current_request_id()
    return {"error": error}


def error_response(status_code: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status_code, headers=headers)


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "invalid_input", 429: "rate_limited"}


def _field_of(location: tuple) -> str | None:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or (str(location[-1]) if location else None)


async def _chiiki_error(_request: Request, exc: ChiikiError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.message, exc.field, exc.headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    field = _field_of(tuple(first.get("loc", ())))
    message = f"{field}: {first['msg']}" if field else first["msg"]
    return error_response(422, "invalid_input", message, field)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


# The database is down, restarting, or (SQLite) still locked after the busy timeout, or no pooled connection
# came free in time: the request may be retried. Raised by SQLAlchemy, or by the driver itself on the
# driver-level paths (common/driver_sql.py).
DATABASE_UNAVAILABLE = (SqlAlchemyOperationalError, PoolTimeoutError, psycopg.OperationalError,
                        sqlite3.OperationalError)
DATABASE_RETRY_AFTER_SECONDS = 1


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable in %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(503, "database_unavailable", "the database cannot be reached just now; retry shortly",
                          headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


# A value the database cannot store or compare, which no request model caught (a NUL in a path parameter, a
# number beyond BIGINT): the caller's input, so a 422, never a 500.
UNSTORABLE_VALUE = (SqlAlchemyDataError, psycopg.DataError)


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    problem = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    log.info("unstorable value in %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(422, "invalid_input", f"a value in this request cannot be stored: {problem}")


class UnhandledErrorMiddleware:
    """Turns an exception no handler took into the 500 error body, inside the request-id middleware.

    Starlette's own last-resort handler sits outside every middleware, where the request id is gone.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            response = error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Error bodies for every failure; call before adding ObservabilityMiddleware, which must wrap this."""
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_exception_handler(ChiikiError, _chiiki_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, _database_unavailable)
    for error in UNSTORABLE_VALUE:
        app.add_exception_handler(error, _unstorable_value)
