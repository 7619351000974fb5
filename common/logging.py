"""Logging for every process: one line per record, JSON by default, always with the request id."""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from common.requestid import current_request_id

EXTRA_FIELDS = ("service", "method", "path", "route", "status", "duration_ms", "upstream", "principal")


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = current_request_id()
    return record


def stamp_request_ids() -> None:
    """Every log record created from now on carries the current request id, whatever handler reads it."""
    logging.setLogRecordFactory(_record_with_request_id)


# Twelve digits, together or in groups of four: what a 個人番号 (My Number) looks like, wherever it appears in a
# line (a URL path, a request id, a message). No log line may carry one.
TWELVE_DIGITS = re.compile(r"(?<!\d)\d{4}([- ]?)\d{4}\1\d{4}(?!\d)")
MASK = "[12 digits]"


def mask_twelve_digits(line: str) -> str:
    return TWELVE_DIGITS.sub(MASK, line)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_twelve_digits(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_twelve_digits(self._json(record))

    def _json(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for field in EXTRA_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    stamp_request_ids()
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
