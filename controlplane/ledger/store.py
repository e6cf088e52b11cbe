"""Reading and writing the ledger in the store. Every change writes its operation-log event on the same
connection, inside the caller's transaction, so the change and its event commit together or not at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from controlplane import units
from controlplane.audit.log import AuditLog, Entry
from controlplane.domain import (
    AllocationKind,
    AllocationRevision,
    ApplicationSystem,
    Cloud,
    Department,
    FootprintItem,
    Quantities,
    RecordedRevision,
    in_force,
)
from controlplane.ledger.forms import LedgerFileError, RowError
from controlplane.ledger.rows import LedgerBatch
from controlplane.store.tables import allocation_revisions as rev_t
from controlplane.store.tables import clouds as clouds_t
from controlplane.store.tables import departments as dep_t
from controlplane.store.tables import footprints as fp_t
from controlplane.store.tables import systems as sys_t


@dataclass
class ImportSummary:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    major_changes: list[str] = field(default_factory=list)

    def count(self, table: dict[str, int], what: str) -> None:
        table[what] = table.get(what, 0) + 1


@dataclass(frozen=True, slots=True)
class Approved:
    """One line of "what was approved": a system's revision on one cloud."""

    department: str
    system: ApplicationSystem
    cloud: str
    revision: RecordedRevision


# -- clouds -------------------------------------------------------------------------------------------------------


def load_clouds(conn: Connection) -> dict[str, Cloud]:
    rows = conn.execute(select(clouds_t)).mappings()
    return {r["name"]: Cloud.model_validate({k: v for k, v in r.items() if k != "id"}) for r in rows}


def sync_clouds(conn: Connection, wanted: Iterable[Cloud], audit: AuditLog, actor: str, request_id: str = "") -> int:
    """Record configured clouds in the store (new or changed ones); returns how many changed."""
    existing = load_clouds(conn)
    changed = 0
    for cloud in wanted:
        old = existing.get(cloud.name)
        if old == cloud:
            continue
        values = cloud.model_dump(mode="json")
        if old is None:
            conn.execute(insert(clouds_t).values(**values))
            action = "cloud.register"
        else:
            conn.execute(update(clouds_t).where(clouds_t.c.name == cloud.name).values(**values))
            action = "cloud.update"
        audit.append(
            conn,
            Entry(
                actor,
                action,
                f"cloud:{cloud.name}",
                old.model_dump(mode="json") if old else None,
                values,
                request_id,
            ),
        )
        changed += 1
    return changed


# -- applying a batch --------------------------------------------------------------------------------------------


def _revision_values(allocation: AllocationRevision) -> dict[str, Any]:
    q = allocation.quantities
    return {
        "vcpu_milli": units.cores_to_milli(q.vcpu),
        "memory_bytes": q.memory_bytes,
        "storage_bytes": q.storage_bytes,
        "instances": q.instances,
        "rack_units": q.rack_units,
        "power_watts": q.power_watts,
        "bandwidth_bps": q.bandwidth_bps,
        "devices": q.devices,
        "approval_ref": allocation.approval_ref,
        "approval_date": allocation.approval_date,
        "effective_from": allocation.effective_from,
        "effective_to": allocation.effective_to,
        "kind": allocation.kind.value,
    }


def _recorded(row: Row[Any] | Any, system_key: str, cloud: str) -> RecordedRevision:
    m = row._mapping
    allocation = AllocationRevision(
        system=system_key,
        cloud=cloud,
        quantities=Quantities(
            vcpu=units.milli_to_cores(m["vcpu_milli"]),
            memory_bytes=m["memory_bytes"],
            storage_bytes=m["storage_bytes"],
            instances=m["instances"],
            rack_units=m["rack_units"],
            power_watts=m["power_watts"],
            bandwidth_bps=m["bandwidth_bps"],
            devices=m["devices"],
        ),
        approval_ref=m["approval_ref"],
        approval_date=m["approval_date"],
        effective_from=m["effective_from"],
        effective_to=m["effective_to"],
        kind=AllocationKind(m["kind"]),
    )
    major = tuple(x for x in m["major_change"].split(",") if x)
    return RecordedRevision(revision=m["id"], recorded_at=m["recorded_at"], allocation=allocation, major_change=major)


class _Applier:
    def __init__(self, conn: Connection, audit: AuditLog, actor: str, request_id: str) -> None:
        self.conn = conn
        self.audit = audit
        self.actor = actor
        self.request_id = request_id
        self.summary = ImportSummary()
        self.errors: list[RowError] = []
        self.dep_ids: dict[str, int] = {r.name: r.id for r in conn.execute(select(dep_t.c.id, dep_t.c.name))}
        self.cloud_ids: dict[str, int] = {r.name: r.id for r in conn.execute(select(clouds_t.c.id, clouds_t.c.name))}

    def log(self, action: str, target: str, before: Any, after: Any) -> None:
        self.audit.append(self.conn, Entry(self.actor, action, target, before, after, self.request_id))

    def department(self, dep: Department) -> None:
        if dep.name in self.dep_ids:
            row = self.conn.execute(select(dep_t.c.parent_id).where(dep_t.c.id == self.dep_ids[dep.name])).one()
            old_parent = self._dep_name(row.parent_id)
            if dep.parent is None or old_parent == dep.parent:
                return
            self.conn.execute(
                update(dep_t).where(dep_t.c.id == self.dep_ids[dep.name]).values(parent_id=self.dep_ids[dep.parent])
            )
            self.log("department.update", f"department:{dep.name}", {"parent": old_parent}, {"parent": dep.parent})
            self.summary.count(self.summary.updated, "departments")
            return
        parent_id = self.dep_ids[dep.parent] if dep.parent else None
        new_id = self.conn.execute(insert(dep_t).values(name=dep.name, parent_id=parent_id)).inserted_primary_key
        assert new_id is not None
        self.dep_ids[dep.name] = int(new_id[0])
        self.log("department.create", f"department:{dep.name}", None, dep.model_dump(mode="json"))
        self.summary.count(self.summary.created, "departments")

    def _dep_name(self, dep_id: int | None) -> str | None:
        if dep_id is None:
            return None
        return next(name for name, i in self.dep_ids.items() if i == dep_id)

    def system(self, system: ApplicationSystem) -> None:
        values = system.model_dump(mode="python")
        values.pop("department")
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
        values["department_id"] = self.dep_ids[system.department]
        existing = self.conn.execute(select(sys_t).where(sys_t.c.key == system.key)).mappings().first()
        if existing is None:
            self.conn.execute(insert(sys_t).values(**values))
            self.log("system.create", f"system:{system.key}", None, system.model_dump(mode="json"))
            self.summary.count(self.summary.created, "systems")
            return
        old = _system_from(existing, self._dep_name(existing["department_id"]) or "")
        if old == system:
            return
        self.conn.execute(update(sys_t).where(sys_t.c.id == existing["id"]).values(**values))
        self.log(
            "system.update",
            f"system:{system.key}",
            old.model_dump(mode="json"),
            system.model_dump(mode="json"),
        )
        self.summary.count(self.summary.updated, "systems")

    def footprint(self, item: FootprintItem, number: int) -> None:
        cloud_id = self.cloud_ids[item.cloud]
        system_id = self.conn.execute(select(sys_t.c.id).where(sys_t.c.key == item.system)).scalar_one()
        owner = self.conn.execute(
            select(fp_t.c.system_id, sys_t.c.key)
            .join(sys_t, sys_t.c.id == fp_t.c.system_id)
            .where(fp_t.c.cloud_id == cloud_id, fp_t.c.kind == item.kind.value, fp_t.c.ref == item.ref)
        ).first()
        if owner is not None:
            if owner.system_id != system_id:
                column = {"project": "projects", "namespace": "namespaces", "equipment": "equipment"}[item.kind]
                self.errors.append(
                    RowError(
                        number,
                        column,
                        f"{item.kind} {item.ref!r} on {item.cloud} already belongs to {owner.key!r}",
                    )
                )
            return
        self.conn.execute(
            insert(fp_t).values(system_id=system_id, cloud_id=cloud_id, kind=item.kind.value, ref=item.ref)
        )
        self.log("footprint.add", f"system:{item.system}", None, item.model_dump(mode="json"))
        self.summary.count(self.summary.created, "footprints")

    def revision(self, allocation: AllocationRevision, number: int, now: dt.datetime) -> None:
        system_id = self.conn.execute(select(sys_t.c.id).where(sys_t.c.key == allocation.system)).scalar_one()
        cloud_id = self.cloud_ids[allocation.cloud]
        rows = self.conn.execute(
            select(rev_t).where(rev_t.c.system_id == system_id, rev_t.c.cloud_id == cloud_id)
        ).all()
        history = [_recorded(r, allocation.system, allocation.cloud) for r in rows]
        same_ref = [h for h in history if h.allocation.approval_ref == allocation.approval_ref]
        if same_ref:
            if same_ref[0].allocation == allocation:
                self.summary.unchanged += 1
            else:
                self.errors.append(
                    RowError(
                        number,
                        "approval_ref",
                        f"approval {allocation.approval_ref!r} is already recorded for this system and cloud with "
                        "other values; a change needs its own approval number",
                    )
                )
            return
        previous = in_force(history, allocation.effective_from)
        major = allocation.quantities.major_changes(previous.allocation.quantities) if previous else []
        values = _revision_values(allocation) | {
            "system_id": system_id,
            "cloud_id": cloud_id,
            "major_change": ",".join(major),
            "recorded_at": now,
        }
        new_id = self.conn.execute(insert(rev_t).values(**values)).inserted_primary_key
        assert new_id is not None
        after = allocation.model_dump(mode="json") | {"revision": int(new_id[0]), "major_change": major}
        before = previous.allocation.model_dump(mode="json") if previous else None
        self.log("allocation.revise", f"system:{allocation.system}/cloud:{allocation.cloud}", before, after)
        self.summary.count(self.summary.created, "revisions")
        if major:
            self.summary.major_changes.append(
                f"{allocation.system} @ {allocation.cloud} ({allocation.approval_ref}): {', '.join(major)}"
            )


def apply_batch(
    conn: Connection, batch: LedgerBatch, audit: AuditLog, actor: str, now: dt.datetime, *, request_id: str = ""
) -> ImportSummary:
    """Write a checked batch; raise ``LedgerFileError`` (caller rolls back) when it conflicts with the store."""
    sync_clouds(conn, batch.clouds, audit, actor, request_id)
    applier = _Applier(conn, audit, actor, request_id)
    for name in _parents_first(batch):
        applier.department(batch.departments[name][0])
    for system, _ in batch.systems.values():
        applier.system(system)
    for item, number in batch.footprints:
        applier.footprint(item, number)
    for allocation, number in sorted(batch.revisions, key=lambda r: (r[0].effective_from, r[1])):
        applier.revision(allocation, number, now)
    if applier.errors:
        raise LedgerFileError(batch.source, sorted(applier.errors, key=lambda e: (e.row or 0, e.column or "")))
    return applier.summary


def _parents_first(batch: LedgerBatch) -> list[str]:
    order: list[str] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed:
            return
        parent = batch.departments[name][0].parent
        if parent is not None and parent in batch.departments:
            place(parent)
        placed.add(name)
        order.append(name)

    for name in batch.departments:
        place(name)
    return order


# -- queries --------------------------------------------------------------------------------------------------


def _system_from(m: Any, department: str) -> ApplicationSystem:
    return ApplicationSystem(
        key=m["key"],
        name=m["name"],
        department=department,
        mlps_level=m["mlps_level"],
        zone=m["zone"],
        mode=m["mode"],
        stable_since=m["stable_since"],
        status=m["status"],
    )


def _revision_rows(conn: Connection, system: str | None) -> list[tuple[str, ApplicationSystem, str, Any]]:
    query = (
        select(rev_t, sys_t.c.key.label("s_key"), clouds_t.c.name.label("c_name"), dep_t.c.name.label("d_name"))
        .join(sys_t, sys_t.c.id == rev_t.c.system_id)
        .join(clouds_t, clouds_t.c.id == rev_t.c.cloud_id)
        .join(dep_t, dep_t.c.id == sys_t.c.department_id)
        .order_by(dep_t.c.name, sys_t.c.key, clouds_t.c.name, rev_t.c.id)
    )
    if system is not None:
        query = query.where((sys_t.c.key == system) | (sys_t.c.name == system))
    rows = conn.execute(query).all()
    by_key = {s.key: s for s, _ in systems(conn)}
    return [(r.d_name, by_key[r.s_key], r.c_name, r) for r in rows]


def history(conn: Connection, system: str | None = None) -> list[Approved]:
    """Every revision ever recorded, oldest first per system and cloud."""
    return [
        Approved(dep, sys_, cloud, _recorded(row, sys_.key, cloud))
        for dep, sys_, cloud, row in _revision_rows(conn, system)
    ]


def approved_at(
    conn: Connection, day: dt.date, system: str | None = None, as_recorded_at: dt.datetime | None = None
) -> list[Approved]:
    """What was approved for each system on ``day``; with ``as_recorded_at``, as the ledger stood at that moment."""
    groups: dict[tuple[str, str], list[Approved]] = {}
    for item in history(conn, system):
        if as_recorded_at is not None and item.revision.recorded_at > as_recorded_at:
            continue
        groups.setdefault((item.system.key, item.cloud), []).append(item)
    result: list[Approved] = []
    for items in groups.values():
        chosen = in_force([i.revision for i in items], day)
        if chosen is not None:
            result.extend(i for i in items if i.revision is chosen)
    return result


def footprints(conn: Connection, system: str | None = None) -> list[FootprintItem]:
    query = (
        select(sys_t.c.key, clouds_t.c.name, fp_t.c.kind, fp_t.c.ref)
        .join(sys_t, sys_t.c.id == fp_t.c.system_id)
        .join(clouds_t, clouds_t.c.id == fp_t.c.cloud_id)
        .order_by(sys_t.c.key, clouds_t.c.name, fp_t.c.kind, fp_t.c.ref)
    )
    if system is not None:
        query = query.where((sys_t.c.key == system) | (sys_t.c.name == system))
    return [FootprintItem(system=r[0], cloud=r[1], kind=r[2], ref=r[3]) for r in conn.execute(query)]


def systems(conn: Connection) -> list[tuple[ApplicationSystem, str]]:
    """Every system with its department's name."""
    rows = conn.execute(select(sys_t, dep_t.c.name.label("d_name")).join(dep_t).order_by(sys_t.c.key)).all()
    return [(_system_from(r._mapping, r.d_name), r.d_name) for r in rows]
