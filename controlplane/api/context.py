"""What every request of one app shares: the runtime (asked of the factory once, on first use), the API settings
and the background jobs. One per ``create_app``; kept on ``app.state``, never in a module global."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy import Engine

from controlplane.api.settings import ApiSettings
from controlplane.api.token_cache import TokenCache
from controlplane.api.tokens import Token, authenticate
from controlplane.runtime import Runtime
from controlplane.store.engine import reader

if TYPE_CHECKING:
    from controlplane.api.jobs import Jobs
    from controlplane.api.routes.health import Readiness


class ApiContext:
    def __init__(self, runtime_factory: Callable[[], Runtime], api: ApiSettings | None = None) -> None:
        self._factory = runtime_factory
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()
        self._api = api
        self._jobs: Jobs | None = None
        self._readiness: Readiness | None = None
        self._reader: Engine | None = None
        self._tokens: TokenCache | None = None
        # SQLite has one writer at a time: writing requests queue here rather than in SQLite's busy handler (which
        # sleeps up to 100 ms between tries); None on PostgreSQL, where rows are locked, not the database
        self.write_gate: asyncio.Lock | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            with self._lock:
                if self._runtime is None:
                    self._runtime = self._factory()
        return self._runtime

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def reader(self) -> Engine:
        """The engine for requests that only read (deferred transactions on SQLite: they never queue)."""
        if self._reader is None:
            self._reader = reader(self.engine)
        return self._reader

    def gate(self) -> asyncio.Lock | None:
        if self.write_gate is None and self.engine.dialect.name == "sqlite":
            self.write_gate = asyncio.Lock()
        return self.write_gate

    @property
    def api(self) -> ApiSettings:
        return self._api or self.runtime.settings.api

    @property
    def jobs(self) -> Jobs:
        if self._jobs is None:
            from controlplane.api.jobs import Jobs

            with self._lock:
                if self._jobs is None:
                    self._jobs = Jobs(self)
        return self._jobs

    @property
    def readiness(self) -> Readiness:
        if self._readiness is None:
            from controlplane.api.routes.health import Readiness

            with self._lock:
                if self._readiness is None:
                    self._readiness = Readiness()
        return self._readiness

    def ready_timeout(self) -> float:
        """``api.ready_timeout_s``; its default while the runtime cannot be had (that is what readiness reports)."""
        if self._api is not None:
            return self._api.ready_timeout_s
        try:
            return self.runtime.settings.api.ready_timeout_s
        except Exception:  # noqa: BLE001 - the probe itself will say what is wrong
            return ApiSettings().ready_timeout_s

    def now(self) -> dt.datetime:
        return self.runtime.clock.now()

    def recent_token(self, text: str) -> Token | None:
        """The token this text authenticated as in the last ``api.token_cache_s`` seconds (``token_cache``), had
        without I/O; None too before the first authentication (which may still have a runtime to open)."""
        return self._tokens.get(text) if self._tokens is not None else None

    def authenticate(self, text: str) -> Token | None:
        """The usable token this text is (a recent answer, else the store's), or None."""
        if self._tokens is None:
            made = TokenCache(self.runtime.clock, self.api.token_cache_s)  # the runtime takes the lock too
            with self._lock:
                if self._tokens is None:
                    self._tokens = made
        token = self._tokens.get(text)
        if token is not None:
            return token
        with self.reader.connect() as conn:
            token = authenticate(conn, text, self.now())
        if token is not None:
            self._tokens.put(text, token)
        return token


def context_of(request: Request) -> ApiContext:
    """The context of the app serving ``request``."""
    ctx = request.app.state.yunguan
    assert isinstance(ctx, ApiContext)
    return ctx


async def api_context(request: Request) -> ApiContext:
    """The app's context, as a dependency; async because it does no I/O (FastAPI runs a plain function's dependency
    in the thread pool: a hand-off per request for nothing)."""
    return context_of(request)
