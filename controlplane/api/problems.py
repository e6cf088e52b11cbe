"""Every error the API answers is an RFC 9457 problem (``application/problem+json``): ``type``, ``title``,
``status``, ``detail``, ``instance`` (the path asked for) and the ``request_id``; validation errors add ``errors``
(where and what). Routes raise ``Problem``; the handlers here turn it, FastAPI's validation errors, Starlette's
404/405, a store that does not answer (a 503 with ``Retry-After``: the database is away or busy, a retry may work)
and anything unexpected (a 500 that says nothing of the cause) into that shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from controlplane.logs import get_logger

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://yunguan.io/problems/"


class ProblemDetail(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str = Field(description="a URI naming the kind of problem")
    title: str = Field(description="short summary of the kind of problem")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong with this request")
    instance: str = Field(description="the path of the request")
    request_id: str = Field(default="", description="the request's X-Request-Id")
    errors: list[dict[str, Any]] | None = Field(default=None, description="validation errors: loc, msg, type")


class Problem(Exception):  # noqa: N818 - it is what the API answers: a problem, not an error of ours
    """Raise in a route to answer ``status`` with a problem of kind ``kind`` (the last part of its type URI)."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", f"{what} does not exist")


def problem_response(
    request: Request,
    status: int,
    kind: str,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    request_id = str(request.scope.get("state", {}).get("request_id", ""))
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id,
        **(extra or {}),
    }
    out = dict(headers or {})
    if request_id:
        out["X-Request-Id"] = request_id
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=MEDIA_TYPE, headers=out)


_KINDS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "validation",
}


async def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        request, exc.status, exc.kind, exc.detail, title=exc.title, headers=exc.headers, extra=exc.extra
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(
        request, exc.status_code, _KINDS.get(exc.status_code, "http"), detail, headers=exc.headers or None
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return problem_response(request, 422, "validation", where or "the request is not valid", extra={"errors": errors})


STORE_RETRY_AFTER_S = 5
# what SQLAlchemy raises when the database is unreachable, drops the connection or the pool has none to give
STORE_AWAY = (OperationalError, InterfaceError, PoolTimeoutError)


async def _store_away(request: Request, exc: Exception) -> JSONResponse:
    # the driver's message may carry the host and user of the database URL: only its type is logged, none is answered
    get_logger("yunguan.api").warning("the store does not answer", path=request.url.path, error=type(exc).__name__)
    return problem_response(
        request,
        503,
        "store-unavailable",
        "the database does not answer now (unreachable or busy); try again shortly",
        headers={"Retry-After": str(STORE_RETRY_AFTER_S)},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    get_logger("yunguan.api").error("unhandled error", path=request.url.path, error=type(exc).__name__, exc_info=exc)
    return problem_response(request, 500, "internal", "the server could not answer; the request id is in the log")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    for away in STORE_AWAY:
        app.add_exception_handler(away, _store_away)
    app.add_exception_handler(Exception, _unexpected)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problems a route may answer."""
    return {
        s: {
            "model": ProblemDetail,
            "description": HTTPStatus(s).phrase,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
        }
        for s in statuses
    }
