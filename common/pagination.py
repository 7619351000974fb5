"""Keyset pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.

The cursor is the opaque (base64) sort key of the last item returned, so pages stay stable
while rows are added, and every page is one indexed query.
"""

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Integer
from sqlalchemy.orm import Mapped
from sqlmodel.sql.expression import SelectOfScalar

from common.errors import Unprocessable

T = TypeVar("T")
Row = TypeVar("Row")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# What encode_cursor writes: unpadded URL-safe base64.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    after: str | None


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unprocessable("cursor is not one this API returned", field="cursor") from None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, pattern=CURSOR_PATTERN, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


def make_page(rows: Sequence[Any], params: PageParams, key: str) -> dict[str, Any]:
    """`rows` were fetched with limit + 1, so one more row than asked means there is a next page."""
    items = rows[: params.limit]
    has_more = len(rows) > params.limit
    return {"items": items, "next_cursor": encode_cursor(str(getattr(items[-1], key))) if has_more else None}


def _typed(key: ColumnElement[Any] | Mapped[Any], after: str) -> str | int:
    if not isinstance(getattr(key, "type", None), Integer):
        return after
    try:
        return int(after)
    except ValueError:
        raise Unprocessable("cursor is not one this API returned", field="cursor") from None


def keyset(
    query: SelectOfScalar[Row], key: ColumnElement[Any] | Mapped[Any], params: PageParams
) -> SelectOfScalar[Row]:
    """One page of `query` in the order of `key` (a unique column, e.g. `col(Model.id)`): the rows after the
    cursor, and one more than the limit so that `make_page` can tell whether a next page exists. An integer
    key (an append-only log's id) is compared as a number."""
    if params.after is not None:
        query = query.where(key > _typed(key, params.after))
    return query.order_by(key).limit(params.limit + 1)
