"""``Idempotency-Key`` on POST: a client that retries a POST (a timeout, a dropped connection) with the same key and
the same body gets the first response again, and nothing is done twice; the same key with another body is a 409.

Keys belong to the token that sent them. ``claim`` (called by ``auth.requires`` once the caller is known) inserts a
pending row, or answers from the stored one; the request middleware stores the response when it is sent
(``complete``), or forgets the claim when the request failed with a 5xx or an exception (``release``), so a retry
is tried again. A second request with a key still pending gets a 409 too. Keys are kept
``api.idempotency_hours`` (default 24), then purged as new ones are claimed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from controlplane.api.problems import Problem
from controlplane.store.tables import idempotency_keys as keys_table

if TYPE_CHECKING:
    from controlplane.api.context import ApiContext

log = structlog.get_logger(__name__)

HEADER = "idempotency-key"
STATE_KEY = "idempotency"
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
REPLAYED = "Idempotent-Replayed"
_KEPT_HEADERS = ("content-type", "location")
# a claim still pending after this long belongs to a request that died without releasing it (the store went away
# between the claim and the answer): the key is free again. Every POST of the API answers well within it.
ABANDONED_AFTER = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    principal: str
    key: str


class Replay(Exception):  # noqa: N818 - not an error: the stored answer, raised to skip the route
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__("replay")
        self.status = status
        self.headers = dict(headers)
        self.body = body


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


async def claim(request: Request, ctx: ApiContext, principal: str) -> None:
    key = request.headers[HEADER]
    if not _KEY.match(key):
        raise Problem(400, "bad-idempotency-key", "Idempotency-Key must be 1-200 printable ASCII characters")
    body = await request.body()
    print_ = fingerprint(request.method, request.url.path, request.url.query, body)
    request_id = str(request.scope.get("state", {}).get("request_id", ""))
    await run_in_threadpool(_claim, ctx, principal, key, print_, request_id)
    request.scope.setdefault("state", {})[STATE_KEY] = Claim(principal, key)


def _claim(ctx: ApiContext, principal: str, key: str, print_: str, request_id: str) -> None:
    now = ctx.now()
    cutoff = now - dt.timedelta(hours=ctx.api.idempotency_hours)
    try:
        with ctx.engine.begin() as conn:
            conn.execute(delete(keys_table).where(keys_table.c.created < cutoff))
            conn.execute(
                insert(keys_table).values(
                    principal=principal,
                    key=key,
                    fingerprint=print_,
                    state="pending",
                    request_id=request_id,
                    created=now,
                )
            )
    except IntegrityError:
        pass
    else:
        return None
    with ctx.reader.connect() as conn:
        row = conn.execute(
            select(keys_table).where(keys_table.c.principal == principal, keys_table.c.key == key)
        ).first()
    if row is None:  # purged or released meanwhile: try once more
        return _claim(ctx, principal, key, print_, request_id)
    if row.fingerprint != print_:
        raise Problem(
            409,
            "idempotency-key-reused",
            f"Idempotency-Key {key!r} was first used for another request (request id {row.request_id}); "
            "use a new key for a new request",
        )
    if row.state != "done":
        if row.created < now - ABANDONED_AFTER:
            with ctx.engine.begin() as conn:
                conn.execute(
                    delete(keys_table).where(
                        keys_table.c.principal == principal,
                        keys_table.c.key == key,
                        keys_table.c.state == "pending",
                        keys_table.c.created == row.created,
                    )
                )
            return _claim(ctx, principal, key, print_, request_id)
        raise Problem(409, "idempotency-key-in-progress", f"the request with Idempotency-Key {key!r} is still running")
    raise Replay(int(row.status), json.loads(row.headers or "{}"), bytes(row.body or b""))


def complete(ctx: ApiContext, done: Claim, status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Store the response sent for the claim (5xx: forget the claim instead)."""
    if status >= 500:
        release(ctx, done)
        return
    kept = {k: v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
    try:
        with ctx.engine.begin() as conn:
            conn.execute(
                update(keys_table)
                .where(keys_table.c.principal == done.principal, keys_table.c.key == done.key)
                .values(state="done", status=status, headers=json.dumps(kept), body=body)
            )
    except SQLAlchemyError as exc:  # answered, but the store went away before the answer was kept: as release
        log.warning("idempotency response not kept", error=type(exc).__name__)


def release(ctx: ApiContext, done: Claim) -> None:
    """Forget a claim whose request failed. When the store itself is away (the usual reason it failed) the claim
    stays pending and is taken for abandoned after ``ABANDONED_AFTER``; the client already has its 503."""
    try:
        with ctx.engine.begin() as conn:
            conn.execute(
                delete(keys_table).where(
                    keys_table.c.principal == done.principal,
                    keys_table.c.key == done.key,
                    keys_table.c.state == "pending",
                )
            )
    except SQLAlchemyError as exc:
        log.warning("idempotency claim not released", error=type(exc).__name__)


async def replay_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)
    return Response(exc.body, status_code=exc.status, headers={**exc.headers, REPLAYED: "true"})
