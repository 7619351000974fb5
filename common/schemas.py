"""What request bodies share: a bound on JSON nesting checked before any parser runs, a NUL check, and dates
bounded to years the service can compute with."""

import json
import re
from datetime import UTC, date, datetime
from itertools import accumulate
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from starlette.types import Message, Receive, Scope, Send

from common.error_codes import ErrorCode
from common.errors import error_response
from common.timeutil import aware

NUL = "\x00"
# Deeper than any body the API documents (a batch item's inputs are five levels down); Python's own parser and
# every recursive walk after it stay far from the interpreter's recursion limit.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_NESTING_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class JsonTooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")


def json_depth(body: bytes) -> int:
    """How deep the brackets of a JSON text nest, without parsing it: strings are cut out first, so a bracket
    inside one does not count. Linear in the body and never recursive."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(_NESTING_STEP[byte] for byte in brackets), default=0)


def parse_json(body: bytes) -> Any:
    """`json.loads` that refuses a body nested deeper than MAX_JSON_DEPTH before parsing it. Every failure is a
    ValueError (JsonTooDeep, json.JSONDecodeError, UnicodeDecodeError)."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise JsonTooDeep
    return json.loads(body)


def _skips_depth_check(scope: Scope) -> bool:
    """CSV quotes differently from JSON, so its brackets say nothing about nesting; it is never parsed as JSON."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"text/csv")
    return False


BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def refuse_deep_json(scope: Scope, receive: Receive, send: Send) -> Receive | None:
    """A 422 for a request body nested deeper than MAX_JSON_DEPTH, before any route parses it: None once that
    answer is sent, else the receive to hand on. The body is read whole here (routes read it whole anyway) and
    handed on unchanged."""
    if scope["method"] in BODILESS_METHODS or _skips_depth_check(scope):
        return receive
    body, replay = await read_body(receive)
    if json_depth(body) > MAX_JSON_DEPTH:
        response = error_response(ErrorCode.INVALID_INPUT, str(JsonTooDeep()), "body")
        await response(scope, replay, send)
        return None
    return replay


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int | None = None) -> tuple[bytes, Receive]:
    """The whole request body, and a receive that hands it on unchanged to the app; BodyTooLarge as soon as
    more than `limit` bytes have arrived."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def has_nul(value: Any) -> bool:
    """Whether any string in `value` (keys included, at any depth) holds a NUL. Iterative, and bounded: a value
    nested deeper than MAX_JSON_DEPTH raises JsonTooDeep rather than being walked."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
            continue
        if not isinstance(item, dict | list | tuple):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise JsonTooDeep
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)
    return False


class RequestBody(BaseModel):
    """Unknown fields are refused, and so is text with a NUL character anywhere in a field (PostgreSQL cannot
    store one, SQLite would): a 422 that names the field, the same on both databases."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("text must not contain the NUL character (U+0000)")
        return value


# --- dates and times a service can compute with ----------------------------------------------------------
# Python's calendar ends at 9999-12-31: a time near it overflows when converted to UTC or moved by a day. No
# program, roster or calculation is about a year outside these.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2999


def _date_in_range(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the year must be from {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


def _aware_time_in_range(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2023-06-30T00:00:00+09:00")
    _date_in_range(value)  # checked on the local date, before any conversion could overflow
    return value.astimezone(UTC)


BoundedDate = Annotated[date, AfterValidator(_date_in_range)]
# A time with its offset, returned in UTC; stored instants are UTC.
AwareDatetime = Annotated[datetime, AfterValidator(_aware_time_in_range)]
# An instant read back from the database, answered with its offset (SQLite keeps none; every stored one is UTC).
StoredDatetime = Annotated[datetime, AfterValidator(aware)]
