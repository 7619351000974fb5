"""No log line carries twelve digits in a row (what a 個人番号 looks like): not in a URL path, not in a request id,
not in a message, in JSON or in text."""

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import requestid
from common.logging import JsonFormatter, TextFormatter, mask_twelve_digits, stamp_request_ids
from common.requestid import accept_request_id
from tests.conftest import bearer

TWELVE = re.compile(r"\d{4}[- ]?\d{4}[- ]?\d{4}")


@pytest.mark.parametrize(
    "line,masked",
    [
        ("GET /x/123456789018 404", "GET /x/[12 digits] 404"),
        ("id 1234-5678-9018 and 1234 5678 9018", "id [12 digits] and [12 digits]"),
        ("１２３４５６７８９０１８", "[12 digits]"),  # full-width digits are digits too
        ("rid-123456789018x", "rid-[12 digits]x"),
    ],
)
def test_twelve_digits_are_masked(line, masked):
    assert mask_twelve_digits(line) == masked


@pytest.mark.parametrize("line", ["1700000000123 ms", "12345678901", "2023-06-30T00:00:00", "1234-5678 9018"])
def test_other_numbers_are_left_alone(line):
    assert mask_twelve_digits(line) == line


@pytest.fixture(params=[JsonFormatter(), TextFormatter("%(name)s [%(request_id)s] %(message)s")], ids=["json", "text"])
def written(request) -> Iterator[io.StringIO]:
    """Everything logged during the test, as the process's own handler writes it."""
    stamp_request_ids()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(request.param)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_no_access_line_carries_a_path_or_request_id_with_twelve_digits(client, app_key, written):
    response = await client.get(
        "/subsidy/municipalities/123456789018", headers=bearer(app_key) | {"X-Request-ID": "rid-123456789018"}
    )
    assert response.status_code in (404, 422)
    assert response.headers["x-request-id"] != "rid-123456789018"  # replaced, so it is stored nowhere either
    lines = written.getvalue().splitlines()
    assert any("/subsidy/municipalities/[12 digits]" in line for line in lines), lines
    assert not [line for line in lines if TWELVE.search(line)]


def test_a_request_id_that_holds_twelve_digits_is_replaced():
    assert accept_request_id("order-20230630-1") == "order-20230630-1"
    assert accept_request_id("123456789018") != "123456789018"
    assert accept_request_id("a.123456789018.b") != "a.123456789018.b"
    assert accept_request_id("1234-5678-9018") != "1234-5678-9018"  # grouped: rows store ids, logs show them


def _json_line(**extra) -> dict:
    record = logging.getLogger("chiiki.access").makeRecord(
        "chiiki.access", logging.INFO, "", 0, "%s", ("done",), None, extra=extra
    )
    return json.loads(JsonFormatter().format(record))


def test_a_json_line_masks_every_field_and_stays_json():
    line = _json_line(
        path="/x/1234 5678 9018", status=123456789018, duration_ms=0.123456789018, upstream=Path("/a/123456789018")
    )
    assert line["path"] == "/x/[12 digits]"
    assert line["status"] == "[12 digits]" and line["duration_ms"] == "[12 digits]"
    assert line["upstream"] == "/a/[12 digits]"  # not JSON itself: written as its masked text


def test_a_json_line_keeps_numbers_that_are_no_twelve_digits():
    line = _json_line(status=404, duration_ms=1700000000123.5, principal="municipality:012092")
    assert (line["status"], line["duration_ms"], line["principal"]) == (404, 1700000000123.5, "municipality:012092")
    assert line["message"] == "done" and line["logger"] == "chiiki.access"


def test_a_fresh_request_id_never_holds_twelve_digits_in_a_row(monkeypatch):
    """About one hex id in fifteen would: it is drawn again, so it can be logged unmasked and sent back."""
    drawn = iter([uuid.UUID("12345678-9012-4345-8789-abcdefabcdef"), uuid.UUID("abcdef12-3456-4789-8bcd-ef0123456789")])
    monkeypatch.setattr(requestid.uuid, "uuid4", lambda: next(drawn))
    assert requestid.new_request_id() == "abcdef12345647898bcdef0123456789"
