"""The hosting zone's store on SQLite and PostgreSQL: registering, moving and retiring equipment under the rack
rules (touching U ranges allowed, intersecting refused, retired equipment frees its space; the database refuses an
overlap the store did not check), serials unique per vendor, vendors isolated from each other with the same answer
for another vendor's id as for a missing one, units reading only their own, every change in the operation log with
the vendor as actor, and evidence kept under its SHA-256 and checked on every read."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hosting_data import OPERATOR, UNIT, VENDOR_A, VENDOR_B, A, B, import_ledger, register, spec
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.hosting import store
from controlplane.hosting.evidence import EvidenceCorruptError, EvidenceStore, EvidenceTooLargeError
from controlplane.hosting.model import EquipmentChange, EquipmentState, EvidenceKind, RetireReason
from controlplane.hosting.scope import Caller, Role
from controlplane.runtime import Runtime
from controlplane.store.tables import equipment


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    import_ledger(runtime)
    return runtime


def events(rt: Runtime, prefix: str = "equipment.") -> list[Any]:
    with rt.engine.connect() as conn:
        return [e for e in iter_events(conn) if e.action.startswith(prefix)]


# -- rack positions ------------------------------------------------------------------------------------------------


def test_touching_positions_are_allowed_intersecting_refused(rt: Runtime) -> None:
    """U1-U2 then U3-U4 fit; U4-U5 intersects U3-U4 and is refused naming the device there; nothing is written."""
    register(rt, A, spec("SN-1", 1))
    register(rt, A, spec("SN-2", 3))
    with pytest.raises(store.EquipmentConflictError, match=r"U4-U5 overlaps SN-2 at .*U3-U4") as refused:
        register(rt, A, spec("SN-3", 4))
    assert refused.value.field == "position"
    with rt.engine.connect() as conn:
        assert [e.serial for e in store.list_equipment(conn, A)] == ["SN-1", "SN-2"]
    assert len(events(rt)) == 2


def test_retired_equipment_frees_its_space(rt: Runtime) -> None:
    """Once SN-1 is retired its U range can be taken again; it cannot change any more."""
    first = register(rt, A, spec("SN-1", 10, 4))
    with pytest.raises(store.EquipmentConflictError):
        register(rt, A, spec("SN-2", 12))
    with rt.engine.begin() as conn:
        retired = store.retire(
            conn, rt.audit, A, first, reason=RetireReason.REMOVED, on=dt.date(2026, 11, 19), now=rt.clock.now()
        )
    assert retired.state is EquipmentState.RETIRED
    assert retired.occupies().is_zero()
    register(rt, A, spec("SN-2", 12))
    with rt.engine.begin() as conn, pytest.raises(store.InvalidEquipmentError, match="retired"):
        store.update(conn, rt.audit, A, first, EquipmentChange(power_watts=1), now=rt.clock.now())


def test_moving_onto_another_device_is_refused_and_onto_itself_allowed(rt: Runtime) -> None:
    """An update checks the new position against the others, never against the device's own old place."""
    first = register(rt, A, spec("SN-1", 1, 4))
    register(rt, A, spec("SN-2", 5, 2))
    with rt.engine.begin() as conn:
        moved = store.update(
            conn, rt.audit, A, first, EquipmentChange(position=spec("x", 2, 3).position), now=rt.clock.now()
        )
    assert moved.position.label().endswith("U2-U4")
    with rt.engine.begin() as conn, pytest.raises(store.EquipmentConflictError, match="overlaps SN-2"):
        store.update(conn, rt.audit, A, first, EquipmentChange(position=spec("x", 3, 3).position), now=rt.clock.now())


def test_the_database_refuses_an_overlap_the_store_did_not_check(rt: Runtime) -> None:
    """Two writers that both checked before either wrote: the constraint (exclusion / trigger) still refuses."""
    register(rt, A, spec("SN-1", 1, 4))
    row = {
        "vendor": VENDOR_A,
        "serial": "SN-RAW",
        "asset_tag": "",
        "kind": "server",
        "model": "m",
        "unit": UNIT,
        "system": None,
        "site": "遂宁数据中心",
        "room": "3F-301",
        "rack": "A07",
        "u_start": 4,
        "u_height": 1,
        "power_watts": 1,
        "ports": 0,
        "bandwidth_bps": 0,
        "hosted_since": dt.date(2026, 3, 5),
        "state": "active",
        "registered_by": "x",
        "registered_at": rt.clock.now(),
        "updated_at": rt.clock.now(),
    }
    with pytest.raises(IntegrityError), rt.engine.begin() as conn:
        conn.execute(insert(equipment).values(**row))
    with rt.engine.begin() as conn:  # a retired one, or the next U, is fine
        conn.execute(insert(equipment).values(**row | {"serial": "SN-RAW2", "state": "retired"}))
        conn.execute(insert(equipment).values(**row | {"serial": "SN-RAW3", "u_start": 5}))


def test_a_registration_answers_the_row_as_stored(rt: Runtime) -> None:
    """What ``register`` returns (built from the insert, not read back) is what the store then reads."""
    with rt.engine.begin() as conn:
        made = store.register(conn, rt.audit, A, spec("SN-1", 1, system="社保核心数据库"), rt.clock.now())
        bare = store.register(conn, rt.audit, A, spec("SN-2", 3, system=None), rt.clock.now())
    with rt.engine.connect() as conn:
        assert store.get_equipment(conn, A, made.id) == made
        assert store.get_equipment(conn, A, bare.id) == bare
    assert (made.system, bare.system, made.registered_at.tzinfo) == ("RS-004", None, dt.UTC)


def test_a_taken_serial_is_named_before_an_overlap(rt: Runtime) -> None:
    """A row whose serial and position are both taken is refused for its serial, whichever the database saw first."""
    register(rt, A, spec("SN-1", 1))
    with pytest.raises(store.EquipmentConflictError, match="'SN-1' is already registered") as refused:
        register(rt, A, spec("SN-1", 1))
    assert refused.value.field == "serial"


def test_serials_are_unique_per_vendor(rt: Runtime) -> None:
    """The same serial twice at one vendor is refused; another vendor may have it (its own zone, its own racks)."""
    register(rt, A, spec("SN-1", 1))
    with pytest.raises(store.EquipmentConflictError, match="already registered") as refused:
        register(rt, A, spec("SN-1", 20))
    assert refused.value.field == "serial"
    register(rt, B, spec("SN-1", 1, system=None))


# -- isolation ---------------------------------------------------------------------------------------------------


def not_found(call: Any) -> str:
    with pytest.raises(store.EquipmentNotFoundError) as missing:
        call()
    return str(missing.value)


def test_a_vendor_cannot_read_change_retire_or_guess_another_vendors_equipment(rt: Runtime, tmp_path: Path) -> None:
    """Vendor B gets exactly the answer for A's id that it gets for an id that does not exist, for every call."""
    a_id = register(rt, A, spec("SN-A", 1))
    missing = a_id + 1000
    files = EvidenceStore(tmp_path / "evidence")
    now = rt.clock.now()

    def answers(ident: int) -> list[str]:
        with rt.engine.begin() as conn:
            return [
                not_found(lambda: store.get_equipment(conn, B, ident)),
                not_found(lambda: store.update(conn, rt.audit, B, ident, EquipmentChange(power_watts=1), now=now)),
                not_found(
                    lambda: store.retire(
                        conn, rt.audit, B, ident, reason=RetireReason.REMOVED, on=dt.date(2026, 11, 1), now=now
                    )
                ),
                not_found(
                    lambda: store.attach_evidence(
                        conn,
                        rt.audit,
                        B,
                        files,
                        ident,
                        kind=EvidenceKind.OTHER,
                        name="x",
                        media_type="text/plain",
                        chunks=[b"x"],
                        now=now,
                    )
                ),
                not_found(lambda: store.read_evidence(conn, B, files, ident, 1)),
            ]

    assert answers(a_id) == answers(missing)
    with rt.engine.connect() as conn:
        assert store.list_equipment(conn, B) == []
        assert store.list_equipment(conn, B, vendor=VENDOR_A) == []
        still = store.get_equipment(conn, A, a_id)
    assert still.power_watts == 800
    assert not still.evidence
    assert len(events(rt)) == 1  # only A's registration


def test_a_vendor_registers_only_as_itself(rt: Runtime) -> None:
    """Naming another vendor is refused; a vendor that runs no hosting zone cannot register at all."""
    with pytest.raises(store.NotAllowedError):
        register(rt, A, spec("SN-1", 1), vendor=VENDOR_B)
    stranger = Caller(Role.VENDOR, "vendor:x", vendor="本地测试云")  # runs OpenStack, not hosting
    with pytest.raises(store.InvalidEquipmentError, match="runs no hosting zone"):
        register(rt, stranger, spec("SN-1", 1))


def test_units_read_their_own_and_operators_auditors_everything(rt: Runtime) -> None:
    """A unit sees its department's equipment, whoever hosts it, and changes none; auditors read all, write none."""
    own = register(rt, A, spec("SN-1", 1))
    other = register(rt, OPERATOR, spec("SN-2", 1, unit="市档案馆", system="DA-003"), vendor=VENDOR_B)
    unit = Caller(Role.UNIT, f"unit:{UNIT}", unit=UNIT)
    auditor = Caller(Role.AUDITOR, "auditor:x")
    with rt.engine.begin() as conn:
        assert [e.id for e in store.list_equipment(conn, unit)] == [own]
        assert {e.id for e in store.list_equipment(conn, auditor)} == {own, other}
        assert {e.id for e in store.list_equipment(conn, OPERATOR)} == {own, other}
        assert not_found(lambda: store.get_equipment(conn, unit, other)) == "no such equipment"
        for caller in (unit, auditor):
            with pytest.raises(store.NotAllowedError):
                store.update(conn, rt.audit, caller, own, EquipmentChange(power_watts=1), now=rt.clock.now())
            with pytest.raises(store.NotAllowedError):
                store.register(conn, rt.audit, caller, spec("SN-9", 30), rt.clock.now(), vendor=VENDOR_A)


def test_unit_and_system_must_exist_and_belong_together(rt: Runtime) -> None:
    """The owning unit is a department of the ledger, the system one of that unit's; a name resolves to its code."""
    with pytest.raises(store.InvalidEquipmentError, match="unknown unit") as bad:
        register(rt, A, spec("SN-1", 1, unit="不存在的单位"))
    assert bad.value.field == "unit"
    with pytest.raises(store.InvalidEquipmentError, match="not a system of"):
        register(rt, A, spec("SN-1", 1, system="DA-003"))
    with pytest.raises(store.InvalidEquipmentError, match="unknown system 'NOPE'") as bad:
        register(rt, A, spec("SN-1", 1, system="NOPE"))
    assert bad.value.field == "system"
    with pytest.raises(store.InvalidEquipmentError, match="unknown system '档案数字化系统'"):  # another unit's, by name
        register(rt, A, spec("SN-1", 1, system="档案数字化系统"))
    by_name = register(rt, A, spec("SN-1", 1, system="社保核心数据库"))
    with rt.engine.connect() as conn:
        assert store.get_equipment(conn, A, by_name).system == "RS-004"


# -- the operation log -------------------------------------------------------------------------------------------


def test_every_change_is_logged_with_the_vendor_as_actor(rt: Runtime, tmp_path: Path) -> None:
    """register, update (only what changed), evidence and retire, each with the vendor as actor; the chain verifies."""
    ident = register(rt, A, spec("SN-1", 1))
    files = EvidenceStore(tmp_path / "evidence")
    with rt.engine.begin() as conn:
        unchanged = store.update(conn, rt.audit, A, ident, EquipmentChange(power_watts=800), now=rt.clock.now())
        store.update(
            conn, rt.audit, A, ident, EquipmentChange(state=EquipmentState.ACTIVE, power_watts=900), now=rt.clock.now()
        )
        store.attach_evidence(
            conn,
            rt.audit,
            A,
            files,
            ident,
            kind=EvidenceKind.DELIVERY_RECEIPT,
            name="交接单.pdf",
            media_type="application/pdf",
            chunks=[b"%PDF-1.4 receipt"],
            now=rt.clock.now(),
        )
        store.retire(
            conn, rt.audit, A, ident, reason=RetireReason.DISPOSED, on=dt.date(2026, 11, 19), now=rt.clock.now()
        )
    assert unchanged.power_watts == 800
    logged = events(rt)
    assert [e.action for e in logged] == [
        "equipment.register",
        "equipment.update",
        "equipment.evidence",
        "equipment.retire",
    ]
    assert {e.actor for e in logged} == {f"vendor:{VENDOR_A}"}
    assert {e.target for e in logged} == {f"equipment:{ident}"}
    registered = json.loads(logged[0].after)
    assert (registered["serial"], registered["vendor"], registered["state"]) == ("SN-1", VENDOR_A, "registered")
    who = {"vendor": VENDOR_A, "serial": "SN-1"}
    assert json.loads(logged[1].before) == who | {"power_watts": 800, "state": "registered"}
    assert json.loads(logged[1].after) == who | {"power_watts": 900, "state": "active"}
    assert json.loads(logged[2].after)["sha256"] == hashlib.sha256(b"%PDF-1.4 receipt").hexdigest()
    retired = json.loads(logged[3].after)
    assert (retired["reason"], retired["sanitization_pending"]) == ("disposed", True)
    with rt.engine.connect() as conn:
        assert verify(iter_events(conn), read_checkpoints(conn), rt.signer.public, read_head(conn)).ok


def test_a_refused_change_logs_nothing(rt: Runtime) -> None:
    """The register that fails leaves neither a row nor an event."""
    register(rt, A, spec("SN-1", 1))
    with pytest.raises(store.EquipmentConflictError):
        register(rt, A, spec("SN-1", 9))
    assert len(events(rt)) == 1


# -- evidence ----------------------------------------------------------------------------------------------------


def attach(rt: Runtime, conn: Connection, files: EvidenceStore, ident: int, data: bytes, **kw: Any) -> Any:
    return store.attach_evidence(
        conn,
        rt.audit,
        kw.get("caller", A),
        files,
        ident,
        kind=kw.get("kind", EvidenceKind.SANITIZATION_CERTIFICATE),
        name=kw.get("name", "消磁证明.pdf"),
        media_type="application/pdf",
        chunks=[data[:3], data[3:]],
        now=rt.clock.now(),
    )


def test_evidence_is_kept_under_its_sha256_and_checked_on_read(rt: Runtime, tmp_path: Path) -> None:
    """The file sits at evidence/ab/<sha256>; the record keeps name, size, type, who and when; a read re-hashes it
    and a file changed on disk is refused, never served."""
    ident = register(rt, A, spec("SN-1", 1))
    files = EvidenceStore(tmp_path / "evidence")
    data = b"%PDF-1.4 degauss certificate"
    digest = hashlib.sha256(data).hexdigest()
    with rt.engine.begin() as conn:
        store.retire(
            conn, rt.audit, A, ident, reason=RetireReason.DISPOSED, on=dt.date(2026, 11, 19), now=rt.clock.now()
        )
        kept = attach(rt, conn, files, ident, data)
    assert (kept.sha256, kept.size, kept.uploaded_by) == (digest, len(data), f"vendor:{VENDOR_A}")
    path = tmp_path / "evidence" / digest[:2] / digest
    assert path.read_bytes() == data
    with rt.engine.connect() as conn:
        record, body = store.read_evidence(conn, A, files, ident, kept.id)
        assert (record.name, body) == ("消磁证明.pdf", data)
        assert not store.get_equipment(conn, A, ident).sanitization_certificate_missing()
        unit = Caller(Role.UNIT, f"unit:{UNIT}", unit=UNIT)
        assert store.read_evidence(conn, unit, files, ident, kept.id)[1] == data
    path.chmod(0o640)
    path.write_bytes(b"%PDF-1.4 forged certificate")
    with rt.engine.connect() as conn, pytest.raises(EvidenceCorruptError, match="no longer matches"):
        store.read_evidence(conn, A, files, ident, kept.id)
    path.unlink()
    with rt.engine.connect() as conn, pytest.raises(EvidenceCorruptError, match="missing"):
        store.read_evidence(conn, A, files, ident, kept.id)


def test_the_same_file_twice_is_stored_once_and_oversize_refused(rt: Runtime, tmp_path: Path) -> None:
    """Content-addressed: two uploads of one receipt share a file; a file above the limit is refused whole."""
    ident = register(rt, A, spec("SN-1", 1))
    files = EvidenceStore(tmp_path / "evidence", max_bytes=16)
    with rt.engine.begin() as conn:
        first = attach(rt, conn, files, ident, b"receipt", kind=EvidenceKind.DELIVERY_RECEIPT)
        second = attach(rt, conn, files, ident, b"receipt", kind=EvidenceKind.OTHER, name="copy.pdf")
        with pytest.raises(EvidenceTooLargeError):
            attach(rt, conn, files, ident, b"x" * 17)
    assert first.sha256 == second.sha256 and first.id != second.id
    kept = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
    assert [p.name for p in kept] == [first.sha256]
    with rt.engine.connect() as conn:
        assert [e.kind for e in store.get_equipment(conn, A, ident).evidence] == [
            EvidenceKind.DELIVERY_RECEIPT,
            EvidenceKind.OTHER,
        ]
        assert conn.execute(select(equipment.c.serial)).scalars().all() == ["SN-1"]


def test_a_conflict_only_the_database_sees_is_still_a_conflict(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer's row committed after this one checked: the constraint's refusal becomes the same conflict
    (field position, or serial), and the transaction goes on and can still register elsewhere (SQLite undoes just
    the refused statement; on PostgreSQL the insert does nothing on a conflict)."""
    register(rt, A, spec("SN-1", 1, 4))
    monkeypatch.setattr(store, "_check_position", lambda *_args, **_kw: None)
    with rt.engine.begin() as conn:
        with pytest.raises(store.EquipmentConflictError, match="is taken") as refused:
            store.register(conn, rt.audit, A, spec("SN-2", 3), rt.clock.now())
        assert refused.value.field == "position"
        store.register(conn, rt.audit, A, spec("SN-3", 5), rt.clock.now())
    with rt.engine.connect() as conn:
        assert [e.serial for e in store.list_equipment(conn, A)] == ["SN-1", "SN-3"]
    assert [json.loads(e.after)["serial"] for e in events(rt)] == ["SN-1", "SN-3"]
