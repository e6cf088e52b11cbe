"""A registration as one statement: ``INSERT ... SELECT ... RETURNING`` that inserts only when the vendor runs a
hosting zone, the unit is a department of the ledger and the system (its code, or its name within the unit) is one
of the unit's own; the database's unique constraint and rack-position exclusion constraint (triggers on SQLite)
refuse a taken serial or an overlapping position in the same statement. The statement is built once, with bound
parameters, so a registration costs one round trip and no statement building.

On PostgreSQL the statement is ``... ON CONFLICT DO NOTHING`` (``statement_for``): a taken serial or position
inserts nothing, as an unresolved reference does, instead of raising. PostgreSQL aborts the whole transaction on a
failed statement, so a raising insert needs a savepoint around it (two more round trips a registration) for the
caller to read what is in the way and go on; this one leaves the transaction as it was. SQLite's triggers raise
(``IntegrityError``), but SQLite undoes only the failed statement, so no savepoint is needed there either.

When nothing comes back, ``refusal`` reads why, in the order the checks are named above, so the caller gets the
same refusal, naming the same field, as if each had been checked first: this costs queries only when refusing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Insert, String, bindparam, case, exists, insert, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from controlplane.domain import CloudKind
from controlplane.store.tables import clouds as clouds_t
from controlplane.store.tables import departments as dep_t
from controlplane.store.tables import equipment as eq_t
from controlplane.store.tables import systems as sys_t

# every equipment column a registration sets, in the statement's order ("system" is resolved by the statement)
_GIVEN = (
    "vendor",
    "serial",
    "asset_tag",
    "kind",
    "model",
    "unit",
    "site",
    "room",
    "rack",
    "u_start",
    "u_height",
    "power_watts",
    "ports",
    "bandwidth_bps",
    "hosted_since",
    "state",
    "registered_by",
    "registered_at",
    "updated_at",
)


def _statement(dialect: str) -> Insert:
    vendor = bindparam("vendor", type_=eq_t.c.vendor.type)
    system = bindparam("system", type_=String(200))
    runs_hosting = exists().where(clouds_t.c.kind == CloudKind.HOSTING.value, clouds_t.c.vendor == vendor)
    department = select(dep_t.c.id).where(dep_t.c.name == bindparam("unit")).scalar_subquery()
    # the unit's own system by code or by name; a code match first (a name may equal another system's code)
    own_system = (
        select(sys_t.c.key)
        .where(sys_t.c.department_id == department, or_(sys_t.c.key == system, sys_t.c.name == system))
        .order_by(case((sys_t.c.key == system, 0), else_=1))
        .limit(1)
        .scalar_subquery()
    )
    values: list[Any] = [bindparam(name, type_=eq_t.c[name].type) for name in _GIVEN]
    checked = select(*values, case((system.is_(None), literal(None, String(200))), else_=own_system)).where(
        runs_hosting, department.is_not(None), or_(system.is_(None), own_system.is_not(None))
    )
    if dialect == "postgresql":
        return (
            pg_insert(eq_t)
            .from_select([*_GIVEN, "system"], checked)
            .on_conflict_do_nothing()
            .returning(eq_t.c.id, eq_t.c.system)
        )
    return insert(eq_t).from_select([*_GIVEN, "system"], checked).returning(eq_t.c.id, eq_t.c.system)


REGISTER = _statement("sqlite")
REGISTER_OR_NOTHING = _statement("postgresql")


def statement_for(conn: Connection) -> Insert:
    """The registration for this connection's database: on PostgreSQL, inserting nothing on a conflict."""
    return REGISTER_OR_NOTHING if conn.dialect.name == "postgresql" else REGISTER


def refusal(conn: Connection, vendor: str, unit: str, system: str | None) -> tuple[str, str] | None:
    """Why the registration inserted nothing, when a reference did not resolve: the message and the field it names.
    None when every reference resolves (on PostgreSQL, a taken serial or rack position inserts nothing too)."""
    hosting = select(clouds_t.c.name).where(clouds_t.c.kind == CloudKind.HOSTING.value, clouds_t.c.vendor == vendor)
    if conn.execute(hosting).first() is None:
        return f"vendor {vendor!r} runs no hosting zone (no cloud of kind hosting)", "vendor"
    if conn.execute(select(dep_t.c.id).where(dep_t.c.name == unit)).first() is None:
        return f"unknown unit {unit!r}: not a department of the ledger", "unit"
    if system is None:
        return None
    own = (
        select(sys_t.c.id)
        .join(dep_t, dep_t.c.id == sys_t.c.department_id)
        .where(dep_t.c.name == unit, or_(sys_t.c.key == system, sys_t.c.name == system))
    )
    if conn.execute(own).first() is not None:
        return None
    if conn.execute(select(sys_t.c.id).where(sys_t.c.key == system)).first() is None:
        return f"unknown system {system!r}", "system"
    return f"system {system!r} is not a system of {unit!r}", "system"
