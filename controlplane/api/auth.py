"""Who is calling and what they may do: bearer tokens (``tokens``) mapped to roles, roles to permissions.

Deny by default: a route is reachable only through ``requires(permission)`` (or ``public()`` for the probes and the
spec), and ``create_app`` refuses to build an app with a route that declares neither. ``requires`` answers 401
without a usable token, 403 when the token's role lacks the permission, and for a POST with an ``Idempotency-Key``
claims the key (``idempotency``) once the caller is known, so a replay is only ever served to the same token.

Scopes: a unit token sees only its own department's systems (and their drift, use, findings, actions and notices)
and its hosted equipment; a vendor token only its own vendor's clouds and equipment. Routes narrow their answers with
``Principal.unit`` and ``Principal.vendor``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool

from controlplane.api import idempotency
from controlplane.api.context import context_of
from controlplane.api.problems import Problem
from controlplane.api.tokens import Role, Token
from controlplane.store.tables import departments
from controlplane.store.tables import systems as systems_table

PERMISSION_ATTR = "__yunguan_permission__"


class Permission(StrEnum):
    LEDGER_READ = "ledger:read"
    CLOUDS_READ = "clouds:read"
    RECONCILE_READ = "reconcile:read"
    RECONCILE_RUN = "reconcile:run"
    DRIFT_READ = "drift:read"
    USAGE_READ = "usage:read"
    USAGE_COLLECT = "usage:collect"
    FINDINGS_READ = "findings:read"
    FINDINGS_APPROVE = "findings:approve"
    FINDINGS_EXEMPT = "findings:exempt"
    FINDINGS_DISPUTE = "findings:dispute"
    FINDINGS_DECIDE = "findings:decide"  # reject a dispute, resolve a finding by hand
    ACTIONS_READ = "actions:read"
    AUDIT_READ = "audit:read"
    AUDIT_VERIFY = "audit:verify"
    REPORTS_READ = "reports:read"
    EQUIPMENT_READ = "equipment:read"
    EQUIPMENT_WRITE = "equipment:write"
    NOTICES_READ = "notices:read"
    TERMINATIONS_READ = "terminations:read"
    TERMINATIONS_REQUEST = "terminations:request"
    TERMINATIONS_CONFIRM_BACKUP = "terminations:confirm-backup"


P = Permission
_READS = frozenset(p for p in P if p.value.endswith(":read"))
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(P),
    # the department's operators run everything but act for no vendor (vendors register their own equipment)
    Role.OPERATOR: frozenset(P) - {P.EQUIPMENT_WRITE},
    Role.AUDITOR: _READS | {P.AUDIT_VERIFY},
    Role.VENDOR: frozenset({P.CLOUDS_READ, P.EQUIPMENT_READ, P.EQUIPMENT_WRITE}),
    # a unit reads its own department's systems, their use and findings, its notices and its hosted equipment;
    # it requests its systems' termination and confirms their backup (approvals and the wipe stay operators')
    Role.UNIT: frozenset(
        {
            P.LEDGER_READ,
            P.CLOUDS_READ,
            P.DRIFT_READ,
            P.USAGE_READ,
            P.FINDINGS_READ,
            P.FINDINGS_DISPUTE,
            P.ACTIONS_READ,
            P.EQUIPMENT_READ,
            P.NOTICES_READ,
            P.TERMINATIONS_READ,
            P.TERMINATIONS_REQUEST,
            P.TERMINATIONS_CONFIRM_BACKUP,
        }
    ),
}


@dataclass(frozen=True)
class Principal:
    """The caller of one request, from its token."""

    token_id: str
    name: str
    role: Role
    vendor: str | None = None
    unit: str | None = None

    @classmethod
    def of(cls, token: Token) -> Principal:
        return cls(token.id, token.name, token.role, token.vendor, token.unit)

    @property
    def actor(self) -> str:
        """Who the operation log says acted: role, token name and id."""
        return f"{self.role.value}:{self.name}#{self.token_id}"

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def unit_systems(self, conn: Connection) -> set[str] | None:
        """The system keys a unit token may see; None: no such limit."""
        if self.role is not Role.UNIT:
            return None
        rows = conn.execute(
            select(systems_table.c.key)
            .join(departments, departments.c.id == systems_table.c.department_id)
            .where(departments.c.name == self.unit)
        )
        return set(rows.scalars())


_bearer = HTTPBearer(auto_error=False, description="a token from `yunguan token create`")


def _unauthenticated(detail: str) -> Problem:
    return Problem(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


@functools.cache
def requires(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """The dependency that admits callers whose token's role has ``permission``; one function per permission."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthenticated("this route needs a bearer token (Authorization: Bearer yg_...)")
        # the context straight from the app, not as a dependency of its own: FastAPI solves each dependency of
        # each request anew (~30 us a level), and every authenticated request passes here
        ctx = context_of(request)
        # a recent answer is had without I/O, so without a trip through the thread pool
        token = ctx.recent_token(credentials.credentials) or await run_in_threadpool(
            ctx.authenticate, credentials.credentials
        )
        if token is None:
            raise _unauthenticated("the token is not valid: unknown, expired or revoked")
        principal = Principal.of(token)
        if not principal.may(permission):
            raise Problem(403, "forbidden", f"role {principal.role.value} does not have the permission {permission}")
        if request.method == "POST" and idempotency.HEADER in request.headers:
            await idempotency.claim(request, ctx, principal.token_id)
        return principal

    setattr(dependency, PERMISSION_ATTR, permission)
    dependency.__name__ = f"requires_{permission.value.replace(':', '_')}"
    return dependency


async def _public() -> None:
    return None


setattr(_public, PERMISSION_ATTR, "public")


def public() -> Callable[[], Awaitable[None]]:
    """The dependency of a route anyone may call (the probes, the spec): declared, so never by omission."""
    return _public


def declared_permission(dependant: Any) -> str | None:
    """The permission a route's dependency tree declares (``requires`` or ``public``), else None."""
    for dep in dependant.dependencies:
        found = getattr(dep.call, PERMISSION_ATTR, None)
        if found is not None:
            return str(found)
        deeper = declared_permission(dep)
        if deeper is not None:
            return deeper
    return None


__all__ = ["PERMISSIONS", "Permission", "Principal", "Token", "declared_permission", "public", "requires"]
