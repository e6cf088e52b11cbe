"""Pages of lists: ``limit`` (1-1000, default 100) and an opaque ``cursor``; each page says where the next one is
(``next``: the same path and query with the cursor of the last item, or null on the last page).

The cursor is the sort key of the last item returned (URL-safe base64 of JSON), so a page never repeats or skips an
item that existed when the first page was read, however many were added meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Query, Request
from pydantic import BaseModel, Field

from controlplane.api.problems import Problem

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Cursor = Annotated[str | None, Query(max_length=1000, description="where to go on from: the `next` of the page before")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="the URL of the next page; null on the last one")


def encode(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str | None) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Problem(400, "bad-cursor", "the cursor is not one this API gave out") from None
    if not isinstance(value, list):
        raise Problem(400, "bad-cursor", "the cursor is not one this API gave out")
    return value


def next_link(request: Request, key: Sequence[Any]) -> str:
    """The path and query of this request, with the cursor after ``key``."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    query.append(("cursor", encode(key)))
    return f"{request.url.path}?{urlencode(query)}"


def paginate(
    request: Request,
    items: Iterable[T],
    key: Callable[[T], Sequence[Any]],
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """A page of ``items`` (already in ``key`` order) after the cursor, and the link to the next page."""
    after = decode(cursor)
    chosen: list[T] = []
    more = False
    for item in items:
        if after is not None and _before_or_at(list(key(item)), after):
            continue
        if len(chosen) == limit:
            more = True
            break
        chosen.append(item)
    return chosen, (next_link(request, key(chosen[-1])) if more else None)


def _before_or_at(key: list[Any], after: list[Any]) -> bool:
    try:
        return key <= after
    except TypeError:
        raise Problem(400, "bad-cursor", "the cursor is not one this API gave out") from None
