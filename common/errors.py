"""One error base class, its named subclasses, and the handlers that turn every failure into the error body:

    {"error": {"code": "...", "message": "...", "field": "..."?, "errors": [...]?, "request_id": "..."}}

`code` is always an `ErrorCode` (common/error_codes.py), which also fixes the HTTP status.
"""

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DataError as SqlAlchemyDataError
from sqlalchemy.exc import OperationalError as SqlAlchemyOperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

from common.error_codes import ErrorCode, for_status
from common.requestid import current_request_id

log = logging.getLogger("chiiki.errors")
LOCATIONS = ("body", "query", "path", "header", "cookie")


class ChiikiError(Exception):
    """A domain or request error: a registered code (which sets the HTTP status), a message for people, and
    the field it is about. Raise a named subclass; pass `code` for a more specific registered code, and
    `errors` (see `field_errors`) when several fields are wrong."""

    code = ErrorCode.BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.field = field
        self.headers = headers
        self.errors = errors

    @property
    def status_code(self) -> int:
        return self.code.status


class NotFound(ChiikiError):
    code = ErrorCode.NOT_FOUND


class Unauthorized(ChiikiError):
    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str = "a valid API key is required", **kwargs: Any):
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(ChiikiError):
    code = ErrorCode.FORBIDDEN


class Conflict(ChiikiError):
    code = ErrorCode.CONFLICT


class Unprocessable(ChiikiError):
    code = ErrorCode.INVALID_INPUT


class FieldError(BaseModel):
    field: str | None = Field(None, description="the invalid field, dotted (`inputs.loan_amount`)")
    code: ErrorCode
    message: str


class ErrorDetail(BaseModel):
    code: ErrorCode = Field(description="a registered error code: docs/errors.md lists them with their statuses")
    message: str = Field(description="for people; may change, so match on `code`")
    field: str | None = Field(None, description="the field the error is about (the first one, when several are)")
    errors: list[FieldError] | None = Field(
        None, description="every invalid field of an invalid_input request, the first one being `field`"
    )
    request_id: str | None = Field(None, description="the X-Request-ID of the request, as in the logs")


class ErrorEnvelope(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


def error_body(
    code: ErrorCode, message: str, field: str | None = None, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": str(code), "message": message}
    if field:
        error["field"] = field
    if errors:
        error["errors"] = errors
    error["request_id"] = current_request_id()
    return {"error": error}


def error_response(
    code: ErrorCode,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    status: int | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    """The error body with the code's status (`status` only where a framework chose another, as for 405)."""
    return JSONResponse(error_body(code, message, field, errors), status_code=status or code.status, headers=headers)


def _field_of(location: Sequence[Any], prefix: str | None) -> str | None:
    parts = [*([prefix] if prefix else []), *(str(part) for part in location if part not in LOCATIONS)]
    return ".".join(parts) or (str(location[-1]) if location else None)


def field_errors(problems: Sequence[Mapping[str, Any]], prefix: str | None = None) -> list[dict[str, Any]]:
    """pydantic's errors (`loc`, `msg`) as the error body's `errors`, each field dotted under `prefix`."""
    found = []
    for problem in problems:
        field = _field_of(tuple(problem.get("loc", ())), prefix)
        text = str(problem["msg"]).removeprefix("Value error, ")
        found.append(
            {"field": field, "code": str(ErrorCode.INVALID_INPUT), "message": f"{field}: {text}" if field else text}
        )
    return found or [{"field": prefix, "code": str(ErrorCode.INVALID_INPUT), "message": "invalid request"}]


def invalid_input(exc: ValidationError, prefix: str | None = None) -> Unprocessable:
    """A model's validation failure as one error naming every invalid field, the first one at the top."""
    problems = field_errors(exc.errors(), prefix)
    return Unprocessable(problems[0]["message"], field=problems[0]["field"] or prefix or "body", errors=problems)


async def _chiiki_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChiikiError)
    return error_response(exc.code, exc.message, exc.field, exc.headers, errors=exc.errors)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """All invalid fields in `errors`; the first one's `field` and message at the top, as clients expect."""
    assert isinstance(exc, RequestValidationError)
    problems = field_errors(exc.errors())
    first = problems[0]
    return error_response(ErrorCode.INVALID_INPUT, first["message"], first["field"], errors=problems)


ROUTABLE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request, *, skip: BaseRoute | None = None) -> list[str]:
    """Every method some route (other than `skip`) answers on this path. Starlette's own Allow names only the
    first route of the path, and a path often has several (GET and POST on a collection). Each method is tried
    as the router would, so routes inside included routers count too."""
    routes = [route for route in request.app.router.routes if route is not skip]
    return [
        method
        for method in ROUTABLE_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def method_not_allowed(request: Request, methods: list[str]) -> JSONResponse:
    return error_response(
        ErrorCode.METHOD_NOT_ALLOWED,
        f"{request.method} is not allowed on {request.url.path}; use {', '.join(methods)}",
        headers={"Allow": ", ".join(methods)},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        return method_not_allowed(request, methods)
    code = for_status(exc.status_code)
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        message = f"no route for {request.method} {request.url.path}"
    return error_response(code, message, headers=getattr(exc, "headers", None), status=exc.status_code)


# The database is down, restarting, or (SQLite) still locked after the busy timeout, or no pooled connection
# came free in time: the request may be retried. Raised by SQLAlchemy, or by the driver itself on the
# driver-level paths (common/driver_sql.py).
DATABASE_UNAVAILABLE = (
    SqlAlchemyOperationalError,
    PoolTimeoutError,
    psycopg.OperationalError,
    sqlite3.OperationalError,
)
DATABASE_RETRY_AFTER_SECONDS = 1


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable in %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(
        ErrorCode.DATABASE_UNAVAILABLE,
        "the database cannot be reached just now; retry shortly",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


# A value the database cannot store or compare, which no request model caught (a NUL in a path parameter, a
# number beyond BIGINT): the caller's input, so a 422, never a 500.
UNSTORABLE_VALUE = (SqlAlchemyDataError, psycopg.DataError)


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    problem = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    log.info("unstorable value in %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(ErrorCode.INVALID_INPUT, f"a value in this request cannot be stored: {problem}")


async def answer_unhandled_error(scope: Scope, receive: Receive, send: Send) -> None:
    """Log the exception being handled and answer the 500 error body: for an exception no handler took, raised
    before the response started (after, no body can be sent any more)."""
    log.exception("unhandled error in %s %s", scope["method"], scope["path"])
    response = error_response(ErrorCode.INTERNAL_ERROR, "an unexpected error occurred; it has been logged")
    await response(scope, receive, send)


def install_exception_handlers(app: FastAPI) -> None:
    """The error bodies of the exceptions a handler takes; ObservabilityMiddleware answers any other with
    `answer_unhandled_error`."""
    app.add_exception_handler(ChiikiError, _chiiki_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    for unstorable in UNSTORABLE_VALUE:
        app.add_exception_handler(unstorable, _unstorable_value)
