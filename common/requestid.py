"""Request ids: kept from `X-Request-ID` when the caller sends a sane one, generated otherwise.

The id lives in a context variable for the duration of the request, so that log records, error
bodies and ledger rows can carry it without threading it through every call.
"""

import re
import uuid
from contextvars import ContextVar, Token

from common.twelve_digits import holds_twelve_digits

HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


# A hex id has twelve or more digits in a row about one time in fifteen: such an id would read as a 個人番号 in
# the logs, and be refused when a client sent it back.
_DIGIT_RUN = re.compile(r"\d{12}")


def new_request_id() -> str:
    """A random hex id without twelve digits in a row."""
    while _DIGIT_RUN.search(request_id := uuid.uuid4().hex):
        pass
    return request_id


def accept_request_id(value: str | None) -> str:
    """The caller's id if it is a short token that holds no twelve digits (a 個人番号, which must never be logged or
    stored, and request ids are in both), else a fresh one (never echo arbitrary bytes into logs)."""
    if value and _VALID.match(value) and not holds_twelve_digits(value):
        return value
    return new_request_id()


def bind_request_id(request_id: str) -> Token[str | None]:
    """Make `request_id` current until `unbind_request_id(token)`."""
    return _request_id.set(request_id)


def unbind_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)
