"""Bearer tokens for the HTTP API, made by ``yunguan token create`` and checked on every request.

A token is ``yg_<id>_<secret>``: ``id`` (12 hex digits) is public and finds the row; the store keeps only the SHA-256
of the whole token, so a copy of the database lets nobody call the API. The token is shown once, when created.
Each token has a role (``Role``), an expiry, and for vendors the one vendor, for units the one department (using
unit) it speaks for. Creating and revoking write the operation log (``token.create``, ``token.revoke``) in the same
transaction, with the id, role, scope and expiry, never the token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from enum import StrEnum

from pydantic import Field
from sqlalchemy import Connection, insert, select, update

from controlplane.audit.log import AuditLog, Entry
from controlplane.domain import Frozen
from controlplane.store.tables import api_tokens, clouds, departments

PREFIX = "yg_"
_SHAPE = re.compile(r"^yg_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    ADMIN = "admin"  # everything
    OPERATOR = "operator"  # the management department's operators
    AUDITOR = "auditor"  # read everything, verify the operation log
    VENDOR = "vendor"  # one cloud vendor: its own clouds and equipment
    UNIT = "unit"  # one using unit (department): its own systems


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why."""


class Token(Frozen):
    """A token as the store keeps it (no secret)."""

    id: str
    name: str
    role: Role
    vendor: str | None = Field(description="vendor tokens: the vendor they speak for")
    unit: str | None = Field(description="unit tokens: the department (using unit) they speak for")
    created: dt.datetime
    created_by: str
    expires: dt.datetime
    revoked: dt.datetime | None
    revoked_by: str | None

    def usable(self, now: dt.datetime) -> bool:
        return self.revoked is None and now < self.expires

    def status(self, now: dt.datetime) -> str:
        if self.revoked is not None:
            return "revoked"
        return "active" if now < self.expires else "expired"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _logged(token: Token) -> dict[str, object]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role.value,
        "vendor": token.vendor,
        "unit": token.unit,
        "expires": token.expires.isoformat(),
    }


def create_token(
    conn: Connection,
    audit: AuditLog,
    *,
    role: Role,
    name: str,
    days: int,
    now: dt.datetime,
    actor: str,
    vendor: str | None = None,
    unit: str | None = None,
) -> tuple[Token, str]:
    """Make a token; returns it and the secret token text (shown once, never stored)."""
    name = name.strip()
    if not name:
        raise TokenError("a token needs a name")
    if days < 1:
        raise TokenError("a token must be valid for at least 1 day")
    if role is Role.VENDOR:
        if not vendor:
            raise TokenError("a vendor token needs --vendor: the vendor it speaks for")
        known = set(conn.execute(select(clouds.c.vendor)).scalars())
        if vendor not in known:
            raise TokenError(f"no cloud of vendor {vendor!r} is recorded (known: {', '.join(sorted(known)) or '-'})")
    elif vendor:
        raise TokenError("--vendor is only for vendor tokens")
    if role is Role.UNIT:
        if not unit:
            raise TokenError("a unit token needs --unit: the department it speaks for")
        if conn.execute(select(departments.c.id).where(departments.c.name == unit)).first() is None:
            raise TokenError(f"no department {unit!r} is in the ledger")
    elif unit:
        raise TokenError("--unit is only for unit tokens")
    token_id = secrets.token_hex(6)
    text = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    made = Token(
        id=token_id,
        name=name,
        role=role,
        vendor=vendor,
        unit=unit,
        created=now,
        created_by=actor,
        expires=now + dt.timedelta(days=days),
        revoked=None,
        revoked_by=None,
    )
    conn.execute(insert(api_tokens).values(**made.model_dump(), secret_sha256=digest(text)))
    audit.append(conn, Entry(actor, "token.create", f"token:{token_id}", None, _logged(made)))
    return made, text


def revoke_token(conn: Connection, audit: AuditLog, token_id: str, *, now: dt.datetime, actor: str) -> Token:
    """Revoke a token at once; revoking a revoked token is an error (nothing is logged twice)."""
    found = get_token(conn, token_id)
    if found is None:
        raise TokenError(f"no token {token_id}")
    if found.revoked is not None:
        raise TokenError(f"token {token_id} was already revoked on {found.revoked.isoformat(timespec='seconds')}")
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked=now, revoked_by=actor))
    audit.append(
        conn,
        Entry(
            actor,
            "token.revoke",
            f"token:{token_id}",
            {**_logged(found), "revoked": None},
            {"revoked": now.isoformat()},
        ),
    )
    return found.model_copy(update={"revoked": now, "revoked_by": actor})


def _columns() -> list[object]:
    return [api_tokens.c[name] for name in Token.model_fields]


def get_token(conn: Connection, token_id: str) -> Token | None:
    row = conn.execute(select(*_columns()).where(api_tokens.c.id == token_id)).mappings().first()  # type: ignore[call-overload]
    return Token.model_validate(dict(row)) if row is not None else None


def list_tokens(conn: Connection) -> list[Token]:
    rows = conn.execute(select(*_columns()).order_by(api_tokens.c.created, api_tokens.c.id)).mappings()  # type: ignore[call-overload]
    return [Token.model_validate(dict(r)) for r in rows]


def authenticate(conn: Connection, text: str, now: dt.datetime) -> Token | None:
    """The usable token this text is, or None (malformed, unknown, wrong secret, expired or revoked)."""
    shape = _SHAPE.match(text)
    if shape is None:
        return None
    row = conn.execute(select(api_tokens).where(api_tokens.c.id == shape["id"])).mappings().first()
    if row is None or not hmac.compare_digest(row["secret_sha256"], digest(text)):
        return None
    token = Token.model_validate({k: row[k] for k in Token.model_fields})
    return token if token.usable(now) else None
