"""The raw-body reader of evidence uploads: the whole body under the limit, a 413 past it, whether the client
declared its length or streamed the body without one."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.types import Message

from controlplane.api.problems import Problem
from controlplane.api.uploads import read_body


def _request(chunks: list[bytes], length: int | None) -> Request:
    headers = [(b"content-length", str(length).encode())] if length is not None else []
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    pending = list(chunks)

    async def receive() -> Message:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    return Request(scope, receive)


def test_a_body_within_the_limit_is_read_whole() -> None:
    """Every chunk comes back, in order."""
    assert asyncio.run(read_body(_request([b"ab", b"cd"], 4), limit=4)) == [b"ab", b"cd"]


@pytest.mark.parametrize("length", [5, None], ids=["declared", "streamed"])
def test_a_body_past_the_limit_is_413(length: int | None) -> None:
    """Refused by its declared length, else as soon as the streamed bytes pass the limit."""
    with pytest.raises(Problem) as refused:
        asyncio.run(read_body(_request([b"abc", b"de"], length), limit=4))
    assert (refused.value.status, refused.value.kind) == (413, "too-large")
    assert "at most 4 bytes" in refused.value.detail
