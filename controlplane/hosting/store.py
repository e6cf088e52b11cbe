"""Registering, changing and retiring hosted equipment: the functions the HTTP API and the CLI both call.

Each runs inside the caller's transaction and writes its operation-log event (``equipment.register``,
``equipment.update``, ``equipment.retire``, ``equipment.evidence``) on the same connection, with the vendor or
operator as actor, so the change and its event commit together or not at all. Every read takes the caller's scope
(``scope.Caller``) into the SQL: equipment outside it is never loaded, and its id answers ``EquipmentNotFoundError``
exactly like an id that does not exist.

Errors (the API maps them to HTTP answers, the CLI to row and column)::

    HostingError
    ├── EquipmentNotFoundError   no such equipment, or not the caller's to see
    ├── NotAllowedError          the caller's role may not do this (auditors and units only read)
    ├── EquipmentConflictError   the serial is taken, or the rack position overlaps (``field`` says which)
    └── InvalidEquipmentError    an unknown unit, system or vendor, or a change its state forbids (``field``)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

from sqlalchemy import Connection, Row, Select, insert, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError

from controlplane.audit.log import AuditLog, Entry
from controlplane.hosting import register_sql
from controlplane.hosting.evidence import EvidenceStore
from controlplane.hosting.model import (
    Equipment,
    EquipmentChange,
    EquipmentSpec,
    EquipmentState,
    EvidenceFile,
    EvidenceKind,
    Position,
    RetireReason,
    first_overlap,
)
from controlplane.hosting.scope import Caller, Role
from controlplane.store.tables import departments as dep_t
from controlplane.store.tables import equipment as eq_t
from controlplane.store.tables import equipment_evidence as ev_t
from controlplane.store.tables import systems as sys_t


class HostingError(Exception):
    """Something the hosting functions refuse; the message is for the caller."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EquipmentNotFoundError(HostingError):
    """No equipment with this id that the caller may see."""


class NotAllowedError(HostingError):
    """The caller's role may not make this change."""


class EquipmentConflictError(HostingError):
    """The serial is already registered by this vendor, or the rack position is taken."""


class InvalidEquipmentError(HostingError):
    """A reference that does not resolve, or a change the equipment's state forbids."""


# -- reading -----------------------------------------------------------------------------------------------------


def _scoped(query: Select[Any], caller: Caller) -> Select[Any]:
    if caller.sees_all:
        return query
    if caller.role is Role.VENDOR:
        return query.where(eq_t.c.vendor == caller.vendor)
    return query.where(eq_t.c.unit == caller.unit)


def _from_row(m: Mapping[str, Any], evidence: Sequence[EvidenceFile] = ()) -> Equipment:
    return Equipment(
        id=m["id"],
        vendor=m["vendor"],
        serial=m["serial"],
        asset_tag=m["asset_tag"],
        kind=m["kind"],
        model=m["model"],
        unit=m["unit"],
        system=m["system"],
        position=Position(site=m["site"], room=m["room"], rack=m["rack"], u_start=m["u_start"], u_height=m["u_height"]),
        power_watts=m["power_watts"],
        ports=m["ports"],
        bandwidth_bps=m["bandwidth_bps"],
        hosted_since=m["hosted_since"],
        state=m["state"],
        retired_on=m["retired_on"],
        retire_reason=m["retire_reason"],
        registered_by=m["registered_by"],
        registered_at=m["registered_at"],
        updated_at=m["updated_at"],
        evidence=tuple(evidence),
    )


def _evidence_of(conn: Connection, ids: Iterable[int]) -> dict[int, list[EvidenceFile]]:
    wanted = sorted(set(ids))
    found: dict[int, list[EvidenceFile]] = {i: [] for i in wanted}
    if not wanted:
        return found
    rows = conn.execute(select(ev_t).where(ev_t.c.equipment_id.in_(wanted)).order_by(ev_t.c.id)).mappings()
    for r in rows:
        found[r["equipment_id"]].append(EvidenceFile.model_validate(dict(r)))
    return found


def _load(conn: Connection, query: Select[Any]) -> list[Equipment]:
    rows = [dict(r) for r in conn.execute(query).mappings()]
    evidence = _evidence_of(conn, (r["id"] for r in rows))
    return [_from_row(r, evidence[r["id"]]) for r in rows]


def list_equipment(
    conn: Connection,
    caller: Caller,
    *,
    vendor: str | None = None,
    unit: str | None = None,
    system: str | None = None,
    state: EquipmentState | None = None,
) -> list[Equipment]:
    """The equipment the caller may see, narrowed by the filters given, by vendor and serial."""
    query = _scoped(select(eq_t), caller).order_by(eq_t.c.vendor, eq_t.c.serial)
    if vendor is not None:
        query = query.where(eq_t.c.vendor == vendor)
    if unit is not None:
        query = query.where(eq_t.c.unit == unit)
    if system is not None:
        query = query.where(eq_t.c.system == system)
    if state is not None:
        query = query.where(eq_t.c.state == state.value)
    return _load(conn, query)


def get_equipment(conn: Connection, caller: Caller, equipment_id: int, *, for_update: bool = False) -> Equipment:
    """One piece of equipment the caller may see; ``EquipmentNotFoundError`` otherwise, whoever else has it."""
    query = _scoped(select(eq_t).where(eq_t.c.id == equipment_id), caller)
    if for_update:
        query = query.with_for_update()
    found = _load(conn, query)
    if not found:
        raise EquipmentNotFoundError("no such equipment")
    return found[0]


def hosted_by(conn: Connection, vendor: str) -> list[Equipment]:
    """A vendor's equipment still in the hosting zone (not retired): what reconcile observes on its hosting cloud."""
    query = (
        select(eq_t)
        .where(eq_t.c.vendor == vendor, eq_t.c.state != EquipmentState.RETIRED.value)
        .order_by(eq_t.c.serial)
    )
    return _load(conn, query)


# -- checks ------------------------------------------------------------------------------------------------------


def _writer(caller: Caller) -> None:
    if not caller.can_write:
        raise NotAllowedError(f"a {caller.role.value} may read hosted equipment but not change it")


def _vendor_for(caller: Caller, vendor: str | None) -> str:
    """The vendor a registration is for: a vendor's own; the one an operator names (whether it runs a hosting zone
    is checked by the insert, ``register_sql``)."""
    if caller.role is Role.VENDOR:
        if vendor is not None and vendor != caller.vendor:
            raise NotAllowedError("a vendor registers only its own equipment", "vendor")
        vendor = caller.vendor
    if not vendor:
        raise InvalidEquipmentError("name the vendor hosting the equipment", "vendor")
    return vendor


def _resolve_owner(conn: Connection, unit: str, system: str | None) -> str | None:
    """Check the unit exists and the system is one of its own; returns the system's key (its code)."""
    dep_id = conn.execute(select(dep_t.c.id).where(dep_t.c.name == unit)).scalar()
    if dep_id is None:
        raise InvalidEquipmentError(f"unknown unit {unit!r}: not a department of the ledger", "unit")
    if system is None:
        return None
    rows = conn.execute(
        select(sys_t.c.key, sys_t.c.department_id).where(
            or_(sys_t.c.key == system, (sys_t.c.name == system) & (sys_t.c.department_id == dep_id))
        )
    ).all()
    if not rows:
        raise InvalidEquipmentError(f"unknown system {system!r}", "system")
    own = [r.key for r in rows if r.department_id == dep_id]
    if not own:
        raise InvalidEquipmentError(f"system {system!r} is not a system of {unit!r}", "system")
    return str(own[0])


def _check_position(conn: Connection, vendor: str, position: Position, ignore: int | None = None) -> None:
    """Name the device a refused position overlaps (the database refused it; this reads which one, on refusal only)."""
    same_rack = _load(
        conn,
        select(eq_t).where(
            eq_t.c.vendor == vendor,
            eq_t.c.site == position.site,
            eq_t.c.room == position.room,
            eq_t.c.rack == position.rack,
            eq_t.c.state != EquipmentState.RETIRED.value,
        ),
    )
    other = first_overlap(position, same_rack, ignore=ignore)
    if other is not None:
        raise EquipmentConflictError(
            f"rack position {position.label()} overlaps {other.serial} at {other.position.label()}", "position"
        )


def _write(
    conn: Connection,
    statement: Any,
    params: Any,
    position: Position,
    refused: Callable[[], None],
    *,
    savepoint: bool = True,
) -> Row[Any] | None:
    """Run an insert or update: the database's unique and exclusion constraints (triggers on SQLite) refuse a taken
    serial or rack position, whoever wrote first; ``refused`` (called with the transaction still usable) raises the
    conflict naming what is in the way, else it is raised here. In a savepoint on PostgreSQL, where a failed
    statement aborts the whole transaction (``savepoint=False``: the statement does not raise there, as
    ``register_sql``'s); SQLite undoes only the failed statement (a constraint's and the triggers' ABORT), so there
    a savepoint would be two more statements a write for nothing."""
    try:
        with conn.begin_nested() if savepoint and conn.dialect.name != "sqlite" else nullcontext():
            result = conn.execute(statement, params)
            return result.first() if result.returns_rows else None  # read before the savepoint is released
    except IntegrityError as exc:
        refused()
        if "serial" in str(exc.orig):
            raise EquipmentConflictError("this vendor has already registered that serial", "serial") from exc
        raise EquipmentConflictError(f"rack position {position.label()} is taken", "position") from exc


# -- changing ----------------------------------------------------------------------------------------------------


def _values(spec: EquipmentSpec | Equipment) -> dict[str, Any]:
    p = spec.position
    return {
        "asset_tag": spec.asset_tag,
        "kind": spec.kind.value,
        "model": spec.model,
        "unit": spec.unit,
        "system": spec.system,
        "site": p.site,
        "room": p.room,
        "rack": p.rack,
        "u_start": p.u_start,
        "u_height": p.u_height,
        "power_watts": spec.power_watts,
        "ports": spec.ports,
        "bandwidth_bps": spec.bandwidth_bps,
        "hosted_since": spec.hosted_since,
    }


def as_record(item: Equipment) -> dict[str, Any]:
    """The equipment as the operation log and the API show it (evidence listed apart)."""
    return item.model_dump(mode="json", exclude={"evidence"})


def _target(item: Equipment) -> str:
    return f"equipment:{item.id}"


def register(
    conn: Connection,
    audit: AuditLog,
    caller: Caller,
    spec: EquipmentSpec,
    now: dt.datetime,
    *,
    vendor: str | None = None,
    request_id: str = "",
) -> Equipment:
    """Register equipment for a unit. A vendor registers its own; an operator names the vendor.

    One statement checks and inserts (``register_sql``), with no savepoint on either database; the row is built from
    what was inserted, not read back."""
    _writer(caller)
    vendor = _vendor_for(caller, vendor)
    values = _values(spec) | {
        "vendor": vendor,
        "serial": spec.serial,
        "state": EquipmentState.REGISTERED.value,
        "registered_by": caller.actor,
        "registered_at": now,
        "updated_at": now,
    }

    def in_the_way() -> None:
        """Raise the conflict naming the serial or the device in the way, when one is."""
        if conn.execute(select(eq_t.c.id).where(eq_t.c.vendor == vendor, eq_t.c.serial == spec.serial)).first():
            raise EquipmentConflictError(f"serial {spec.serial!r} is already registered by this vendor", "serial")
        _check_position(conn, vendor, spec.position)

    statement = register_sql.statement_for(conn)
    for _attempt in range(2):
        inserted = _write(conn, statement, values, spec.position, in_the_way, savepoint=False)
        if inserted is not None:
            break
        unresolved = register_sql.refusal(conn, vendor, spec.unit, spec.system)
        if unresolved is not None:
            raise InvalidEquipmentError(*unresolved)
        in_the_way()  # PostgreSQL inserted nothing on a conflict
        # what was in the way went (retired or moved) between the insert and the look: once more
    else:
        # in the way twice, gone twice by the time it was looked for: a position as _write names one
        raise EquipmentConflictError(f"rack position {spec.position.label()} is taken", "position")
    at = now.astimezone(dt.UTC)  # as the store gives a time back
    fields = {"id": inserted.id, "system": inserted.system, "retired_on": None, "retire_reason": None}
    item = _from_row(values | fields | {"registered_at": at, "updated_at": at})
    audit.append(conn, Entry(caller.actor, "equipment.register", _target(item), None, as_record(item), request_id))
    return item


def update(
    conn: Connection,
    audit: AuditLog,
    caller: Caller,
    equipment_id: int,
    change: EquipmentChange,
    *,
    now: dt.datetime,
    request_id: str = "",
) -> Equipment:
    """Change what the change gives; unchanged equipment is returned as it is, with nothing logged."""
    _writer(caller)
    old = get_equipment(conn, caller, equipment_id, for_update=True)
    if old.state is EquipmentState.RETIRED:
        raise InvalidEquipmentError(f"equipment {equipment_id} is retired and can no longer change", "state")
    fields = change.model_dump(exclude_unset=True, exclude={"clear_system", "state"})
    fields = {k: v for k, v in fields.items() if v is not None}
    if "position" in fields:
        fields["position"] = change.position
    if change.clear_system:
        fields["system"] = None
    new = old.model_copy(update=fields)
    if change.state is not None and change.state is not old.state:
        if (old.state, change.state) != (EquipmentState.REGISTERED, EquipmentState.ACTIVE):
            raise InvalidEquipmentError(
                f"state {old.state.value} -> {change.state.value} is not a change this makes "
                "(registered -> active here; retiring is its own step)",
                "state",
            )
        new = new.model_copy(update={"state": change.state})
    if new.unit != old.unit or new.system != old.system:
        new = new.model_copy(update={"system": _resolve_owner(conn, new.unit, new.system)})
    before, after = as_record(old), as_record(new)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return old
    values = _values(new) | {"state": new.state.value, "updated_at": now}
    _write(
        conn,
        sql_update(eq_t).where(eq_t.c.id == old.id).values(**values),
        None,
        new.position,
        lambda: _check_position(conn, old.vendor, new.position, ignore=old.id),
    )
    item = get_equipment(conn, caller, old.id)
    audit.append(
        conn,
        Entry(
            caller.actor,
            "equipment.update",
            _target(item),
            {"vendor": old.vendor, "serial": old.serial, **{k: before[k] for k in changed}},
            {"vendor": old.vendor, "serial": old.serial, **{k: after[k] for k in changed}},
            request_id,
        ),
    )
    return item


def retire(
    conn: Connection,
    audit: AuditLog,
    caller: Caller,
    equipment_id: int,
    *,
    reason: RetireReason,
    on: dt.date,
    now: dt.datetime,
    request_id: str = "",
) -> Equipment:
    """Take equipment out of the hosting zone: it frees its rack space and counts against no allocation.

    Disposing of a server or storage needs a degauss or destruction certificate (Chongqing 39); it may be attached
    after, and until it is the equipment shows as awaiting it (``sanitization_certificate_missing``)."""
    _writer(caller)
    old = get_equipment(conn, caller, equipment_id, for_update=True)
    if old.state is EquipmentState.RETIRED:
        raise InvalidEquipmentError(f"equipment {equipment_id} was already retired on {old.retired_on}", "state")
    if on < old.hosted_since:
        raise InvalidEquipmentError(f"retired on {on} is before it was hosted ({old.hosted_since})", "retired_on")
    conn.execute(
        sql_update(eq_t)
        .where(eq_t.c.id == old.id)
        .values(state=EquipmentState.RETIRED.value, retired_on=on, retire_reason=reason.value, updated_at=now)
    )
    item = get_equipment(conn, caller, old.id)
    audit.append(
        conn,
        Entry(
            caller.actor,
            "equipment.retire",
            _target(item),
            {
                "vendor": old.vendor,
                "serial": old.serial,
                "state": old.state.value,
                "position": old.position.model_dump(mode="json"),
            },
            {
                "vendor": old.vendor,
                "serial": old.serial,
                "state": item.state.value,
                "retired_on": on.isoformat(),
                "reason": reason.value,
                "sanitization_pending": item.sanitization_certificate_missing(),
            },
            request_id,
        ),
    )
    return item


# -- evidence ----------------------------------------------------------------------------------------------------


def attach_evidence(
    conn: Connection,
    audit: AuditLog,
    caller: Caller,
    files: EvidenceStore,
    equipment_id: int,
    *,
    kind: EvidenceKind,
    name: str,
    media_type: str,
    chunks: Iterable[bytes],
    now: dt.datetime,
    request_id: str = "",
) -> EvidenceFile:
    """Keep a file for equipment (retired equipment too: the certificate comes after disposal)."""
    _writer(caller)
    item = get_equipment(conn, caller, equipment_id, for_update=True)
    stored = files.put(chunks)
    values = {
        "equipment_id": item.id,
        "kind": kind.value,
        "name": name,
        "size": stored.size,
        "media_type": media_type or "application/octet-stream",
        "sha256": stored.sha256,
        "uploaded_by": caller.actor,
        "uploaded_at": now,
    }
    new_id = conn.execute(insert(ev_t).values(**values)).inserted_primary_key
    assert new_id is not None
    evidence = EvidenceFile.model_validate(values | {"id": int(new_id[0])})
    record = evidence.model_dump(mode="json", exclude={"uploaded_by", "uploaded_at"})
    audit.append(
        conn,
        Entry(
            caller.actor,
            "equipment.evidence",
            _target(item),
            None,
            {"vendor": item.vendor, "serial": item.serial, **record},
            request_id,
        ),
    )
    return evidence


def read_evidence(
    conn: Connection, caller: Caller, files: EvidenceStore, equipment_id: int, evidence_id: int
) -> tuple[EvidenceFile, bytes]:
    """A kept file with its record, its bytes checked against the recorded SHA-256 (``EvidenceCorruptError``)."""
    item = get_equipment(conn, caller, equipment_id)
    found = next((e for e in item.evidence if e.id == evidence_id), None)
    if found is None:
        raise EquipmentNotFoundError("no such evidence")
    return found, files.read(found.sha256, found.size)
