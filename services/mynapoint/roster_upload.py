"""A roster upload's body: JSON `{"residents": [...]}` or CSV with a header row, at most MAX_ROSTER_ROWS rows."""

import csv
import io
import itertools
from typing import Any

from common.error_codes import ErrorCode
from common.errors import Unprocessable
from common.schemas import parse_json
from services.mynapoint.schemas import RosterRow

# So that the largest upload fits the gateway's timeout many times over (bench/roster.py: ≥ 20,000 rows/s).
MAX_ROSTER_ROWS = 50_000

ROSTER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["residents"],
                    "additionalProperties": False,
                    "properties": {
                        "residents": {
                            "type": "array",
                            "maxItems": MAX_ROSTER_ROWS,
                            "items": RosterRow.model_json_schema(),
                        }
                    },
                },
                "example": {
                    "residents": [
                        {
                            "myki_id": "mykiid-0001",
                            "birth_date": "1990-04-01",
                            "household_with_children": True,
                            "card_applied_on": "2022-11-15",
                        }
                    ]
                },
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "myki_id,birth_date,household_with_children,card_applied_on\n"
                "mykiid-0001,1990-04-01,true,2022-11-15\n",
            },
        },
    }
}


def roster_rows(content_type_header: str, raw: bytes) -> list[dict[str, Any]]:
    """The rows of an upload, JSON or CSV, refused whole (before anything is written) past MAX_ROSTER_ROWS."""
    content_type = content_type_header.split(";")[0].strip().lower()
    if content_type == "text/csv":
        try:
            reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
            rows = [_csv_row(row) for row in itertools.islice(reader, MAX_ROSTER_ROWS + 1)]
        except (UnicodeDecodeError, csv.Error):
            raise Unprocessable("the CSV must be UTF-8 with a header row", field="body") from None
    elif content_type == "application/json":
        try:
            document = parse_json(raw)
            rows = document["residents"]
        except (ValueError, KeyError, TypeError):
            raise Unprocessable('send {"residents": [...]}', field="residents") from None
        if unknown := sorted(set(document) - {"residents"}):
            raise Unprocessable(f"unknown field {unknown[0]}", field=unknown[0])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise Unprocessable("residents must be a list of objects", field="residents")
    else:
        raise Unprocessable(
            "send application/json or text/csv", code=ErrorCode.UNSUPPORTED_MEDIA_TYPE, field="content-type"
        )
    if len(rows) > MAX_ROSTER_ROWS:
        raise Unprocessable(
            f"at most {MAX_ROSTER_ROWS:,} rows per upload: split the roster into several uploads "
            "(each is all rows or none); nothing was written",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
            field="residents",
        )
    return rows


def _csv_row(row: dict[str | Any, str | Any]) -> dict[str, Any]:
    """CSV cells are text: empty means absent, and booleans are true/false/1/0 (pydantic reads those)."""
    return {
        key.strip(): value.strip()
        for key, value in row.items()
        if key is not None and value is not None and value.strip() != ""
    }
