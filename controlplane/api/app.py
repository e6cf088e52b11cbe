"""``create_app``: the HTTP API of one runtime, ``/v1`` plus the probes.

Deny by default: every route must declare a permission (``auth.requires``) or be declared public (``auth.public``:
the probes); the factory refuses to build an app where one does not, and checks again when the app starts, so a
router included afterwards cannot slip in an open route either. Errors are problem+json (``problems``); requests
carry ids and idempotent POSTs are stored (``middleware``, ``idempotency``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from controlplane import __version__
from controlplane.api import problems
from controlplane.api.auth import declared_permission
from controlplane.api.context import ApiContext
from controlplane.api.extensions import load_routers
from controlplane.api.idempotency import Replay, replay_response
from controlplane.api.middleware import RequestMiddleware
from controlplane.api.routes import (
    audit,
    clouds,
    findings,
    health,
    ledger,
    notices,
    reconcile,
    reports,
    terminations,
    usage,
)
from controlplane.api.settings import ApiSettings
from controlplane.runtime import Runtime

PREFIX = "/v1"
OPENAPI_URL = f"{PREFIX}/openapi.json"
# Starlette routes FastAPI adds itself, reachable without a token by design
PUBLIC_PATHS = frozenset({OPENAPI_URL})
DESCRIPTION = """The control plane over the city's government clouds (政务云): the approved ledger, reconcile runs and
drift, measured use, findings and enforcement, termination cases, the operation log and monthly reports. Every `/v1`
route needs a bearer token from `yunguan token create`; errors are `application/problem+json` (RFC 9457); lists are
paged with `limit` and `cursor` (follow `next`); a POST with an `Idempotency-Key` is done once."""


class OpenRouteError(RuntimeError):
    """A route declares no permission: the app would serve it to anyone."""


def routes_of(app: FastAPI) -> list[tuple[str, frozenset[str], str | None]]:
    """Every route the app serves: path, methods and the permission it declares (None: none; "public")."""
    found: list[tuple[str, frozenset[str], str | None]] = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None) if isinstance(route.original_route, APIRoute) else None
        permission = declared_permission(dependant) if dependant is not None else None
        if dependant is None and route.path in PUBLIC_PATHS:
            permission = "public"
        found.append((route.path or "", frozenset(route.methods or ()), permission))
    return found


def _check(app: FastAPI) -> None:
    for path, methods, permission in routes_of(app):
        if permission is None:
            raise OpenRouteError(
                f"{','.join(sorted(methods))} {path} declares no permission: add Depends(requires(Permission.X)) "
                "(or public() for a probe)"
            )


def create_app(
    runtime_factory: Callable[[], Runtime],
    *,
    routers: Sequence[APIRouter] | None = None,
    api: ApiSettings | None = None,
) -> FastAPI:
    """The API over the runtime ``runtime_factory`` gives (asked once, on first use; the caller keeps and closes it).
    ``routers``: more routers under ``/v1`` (default: ``extensions.ROUTERS``); ``api``: the ``api:`` settings
    (default: the runtime's)."""
    ctx = ApiContext(runtime_factory, api)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _check(app)
        yield

    app = FastAPI(
        title="Yunguan API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.yunguan = ctx
    problems.install(app)
    app.add_exception_handler(Replay, replay_response)
    app.include_router(health.router)
    # each router straight under the app, not under a /v1 router of their own: a request is matched against one
    # level of routers less (FastAPI walks the routes of every level, more than once a request). FastAPI tries the
    # routes in order, ~3.5 us each: the added routers (the hosting zone's) come first, as vendors' registrations
    # are the API's busiest writes (they were matched after all ~40 others: ~0.13 ms a request); the paths of the
    # routers do not overlap, so the order changes nothing else
    problems_of_v1 = problems.responses(400, 401, 403, 404, 409, 422)
    for extra in load_routers() if routers is None else routers:
        app.include_router(extra, prefix=PREFIX, responses=problems_of_v1)
    for module in (ledger, clouds, reconcile, usage, findings, notices, audit, reports, terminations):
        app.include_router(module.router, prefix=PREFIX, responses=problems_of_v1)
    app.add_middleware(RequestMiddleware, ctx=ctx)
    _check(app)
    return app
