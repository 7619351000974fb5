"""Logging for every process: one line per record, JSON by default, always with the request id."""

import functools
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from common.requestid import current_request_id
from common.twelve_digits import MASK, mask_twelve_digits

EXTRA_FIELDS = ("service", "method", "path", "route", "status", "duration_ms", "upstream", "principal")


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = current_request_id()
    return record


def stamp_request_ids() -> None:
    """Every log record created from now on carries the current request id, whatever handler reads it."""
    logging.setLogRecordFactory(_record_with_request_id)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_twelve_digits(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line. The fields are masked one by one, not the line they make: most hold fewer than
    twelve digits and need no scan (common/twelve_digits.py), where a whole line, with its time and request id,
    always needed the regular expression's scan, which cost more than building the line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _masked(record.getMessage()),
            "request_id": _masked(fields.get("request_id")),
        }
        for field in EXTRA_FIELDS:
            if field in fields:
                entry[field] = _masked(fields[field])
        if record.exc_info:
            entry["exception"] = _masked(self.formatException(record.exc_info))
        return _JSON.encode(entry)


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond."""
    second = int(created)
    return f"{_up_to_the_second(second)}.{int((created - second) * 1000):03d}+00:00"


@functools.lru_cache(maxsize=4)
def _up_to_the_second(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


_JSON = json.JSONEncoder(ensure_ascii=False)
# Integers strictly between these have fewer than twelve digits.
_SMALL_INT = 10**11


def _masked(value: Any) -> Any:
    """A field's value as a line may carry it: text with any twelve digits masked; a number whose digits read as
    twelve in a row replaced by the mask; anything else as its masked text."""
    kind = type(value)
    if kind is str:
        return mask_twelve_digits(value)
    if value is None or kind is bool or (kind is int and -_SMALL_INT < value < _SMALL_INT):
        return value
    if kind is int or kind is float:
        text = repr(value)
        return value if mask_twelve_digits(text) == text else MASK
    return _masked(str(value))


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    stamp_request_ids()
    # No line shows the thread or the process, and each record would look them up (a system call among them).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our access line carries the request id; uvicorn's own does not, so it is turned off.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per proxied call repeats our access line
