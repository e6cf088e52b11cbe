"""Around every request: its id, its log context, and the storing of an idempotent POST's response.

The request id is the client's ``X-Request-Id`` when it is a sane one (1-100 characters of ``A-Z a-z 0-9 . _ : -``),
else a new UUID; it is returned in the response's ``X-Request-Id``, bound into the structlog context of everything
logged while serving the request, and set as the operation log's ambient request id (``audit.log.request_scope``),
so every event the request writes carries it. On SQLite, requests that write (POST, PATCH, PUT, DELETE) pass one at
a time (``ApiContext.gate``), queueing here instead of sleeping in SQLite's busy handler. A plain ASGI middleware:
the body of a response is only buffered when an ``Idempotency-Key`` was claimed for it.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.api import idempotency
from controlplane.api.context import ApiContext
from controlplane.audit.log import request_scope
from controlplane.logs import get_logger

HEADER = "X-Request-Id"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def request_id_from(value: str | None) -> str:
    if value and _SANE.match(value):
        return value
    return uuid.uuid4().hex


class RequestMiddleware:
    def __init__(self, app: ASGIApp, ctx: ApiContext) -> None:
        self.app = app
        self.ctx = ctx
        self.log = get_logger("yunguan.api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get(HEADER))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        gate = self.ctx.gate() if scope["method"] not in SAFE_METHODS else None
        with structlog.contextvars.bound_contextvars(request_id=request_id), request_scope(request_id):
            if gate is None:
                status = await self._serve(scope, receive, send, request_id)
            else:
                async with gate:
                    status = await self._serve(scope, receive, send, request_id)
            self.log.debug(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )

    async def _serve(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        state = scope["state"]
        status = 500
        sent_headers: list[tuple[bytes, bytes]] = []
        body: list[bytes] = []

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent_headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[HEADER] = request_id
                sent_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body" and idempotency.STATE_KEY in state:
                body.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            claim = state.get(idempotency.STATE_KEY)
            if claim is not None:
                await run_in_threadpool(idempotency.release, self.ctx, claim)
            raise
        claim = state.get(idempotency.STATE_KEY)
        if claim is not None:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in sent_headers}
            await run_in_threadpool(idempotency.complete, self.ctx, claim, status, headers, b"".join(body))
        return status
