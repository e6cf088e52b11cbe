"""Files uploaded as the raw request body (evidence files): read whole, and refused with a 413 as soon as they pass
the store's limit, by the declared ``Content-Length`` before a byte is read, else while the body streams in."""

from __future__ import annotations

from fastapi import Request

from controlplane.api.problems import Problem


def _too_large(limit: int) -> Problem:
    return Problem(413, "too-large", f"an evidence file may be at most {limit} bytes")


async def read_body(request: Request, limit: int) -> list[bytes]:
    """The body's chunks; ``Problem`` 413 when it is (or says it is) longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if chunk:  # Starlette ends the stream with an empty chunk
            chunks.append(chunk)
    return chunks
