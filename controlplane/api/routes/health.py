"""Probes, outside ``/v1`` and without a token: ``/livez`` (the process answers) and ``/readyz`` (the database
answers a cheap query within ``api.ready_timeout_s``). Readiness is asked afresh each time, so it turns false while
the database is away and true again when it is back, without a restart. A query that hangs is waited for at most
the timeout; while it still hangs, the next probes answer "not ready" without piling up more of them."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from controlplane.api.auth import public
from controlplane.api.context import ApiContext, api_context

router = APIRouter(tags=["health"], dependencies=[Depends(public())])


class Health(BaseModel):
    ready: bool
    detail: str


class Readiness:
    """One database check at a time, on a daemon thread (a hung connect never blocks the process's exit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: threading.Thread | None = None
        self._outcome: tuple[bool, str] = (False, "not checked yet")

    def check(self, ctx: ApiContext, timeout: float) -> tuple[bool, str]:
        with self._lock:
            if self._pending is not None and self._pending.is_alive():
                return False, "the previous database check has not answered yet"
            done = threading.Event()
            thread = threading.Thread(target=self._ping, args=(ctx, done), name="readyz", daemon=True)
            self._pending = thread
            thread.start()
        if not done.wait(timeout):
            return False, f"the database did not answer within {timeout:g} s"
        return self._outcome

    def settle(self, timeout: float) -> bool:
        """Wait for a check still running to end (tests, shutdown); True when none is left."""
        pending = self._pending
        if pending is not None:
            pending.join(timeout)
        return pending is None or not pending.is_alive()

    def _ping(self, ctx: ApiContext, done: threading.Event) -> None:
        try:
            with ctx.reader.connect() as conn:
                conn.execute(text("SELECT 1")).scalar()
            self._outcome = (True, "database answers")
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the kind is the answer
            self._outcome = (False, f"database: {type(exc).__name__}")
        finally:
            done.set()


@router.get("/livez", summary="The process is up", response_model=Health)
def livez() -> Health:
    return Health(ready=True, detail="alive")


@router.get(
    "/readyz",
    summary="The database answers",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database does not answer"}},
)
def readyz(ctx: Annotated[ApiContext, Depends(api_context)]) -> JSONResponse:
    ready, detail = ctx.readiness.check(ctx, ctx.ready_timeout())
    return JSONResponse(Health(ready=ready, detail=detail).model_dump(), status_code=200 if ready else 503)
