"""The ledger in a real store: atomic imports, append-only history, point-in-time queries, round trips."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controlplane.audit.log import iter_events, read_checkpoints, read_head
from controlplane.audit.verify import verify
from controlplane.clock import FixedClock
from controlplane.ledger import export
from controlplane.ledger.forms import LedgerFileError, read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import (
    ImportSummary,
    approved_at,
    footprints,
    history,
    load_clouds,
    sync_clouds,
)
from controlplane.ledger.store import apply_batch as apply
from controlplane.runtime import Runtime
from controlplane.store import tables

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
GIB = 1024**3


def import_file(rt: Runtime, path: Path, dry_run: bool = False) -> ImportSummary:
    with rt.engine.connect() as conn, conn.begin() as tx:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, "operator:test")
        batch = parse_ledger(read_ledger_file(path), load_clouds(conn))
        summary = apply(conn, batch, rt.audit, "operator:test", rt.clock.now())
        if dry_run:
            tx.rollback()
    return summary


def counts(rt: Runtime) -> dict[str, int]:
    with rt.engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in tables.metadata.sorted_tables
        }


def test_import_then_ask_what_was_approved_on_a_day(runtime: Runtime) -> None:
    """After importing the demo form, the temporary expansion is in force in July and gone in October."""
    summary = import_file(runtime, EXAMPLES / "ledger-demo.csv")
    assert summary.created["revisions"] == 7
    with runtime.engine.connect() as conn:
        july = {(a.system.key, a.cloud): a for a in approved_at(conn, dt.date(2026, 7, 1))}
        october = {(a.system.key, a.cloud): a for a in approved_at(conn, dt.date(2026, 10, 1))}
        before = approved_at(conn, dt.date(2026, 1, 1))
    assert july["ZW-001", "yunguan-local"].revision.allocation.quantities.vcpu == 24
    assert october["ZW-001", "yunguan-local"].revision.allocation.quantities.vcpu == 16
    assert october["RS-004", "hosting-zone"].revision.allocation.quantities.rack_units == 8
    assert [a.system.key for a in before] == ["ZJ-009"]


def test_reimport_is_unchanged_and_history_is_append_only(runtime: Runtime, clock: FixedClock, tmp_path: Path) -> None:
    """Importing the same file twice adds nothing; a new approval adds a revision and keeps the old one."""
    import_file(runtime, EXAMPLES / "ledger-demo.csv")
    again = import_file(runtime, EXAMPLES / "ledger-demo.csv")
    assert again.created == {} and again.unchanged == 7
    clock.advance(dt.timedelta(hours=1))
    change = tmp_path / "change.csv"
    change.write_text(
        "使用单位,应用系统,系统编号,等保级别,网络区域,服务模式,云平台,vCPU（核）,内存（GiB）,存储（GiB）,审批文号,审批日期,申请类型\n"
        "市公安局,视频联网平台,GA-007,3,电子政务外网,专享云,yunguan-local,64,64,2000,遂政数〔2026〕40号,2026-10-10,标准\n",
        encoding="utf-8",
    )
    summary = import_file(runtime, change)
    assert summary.major_changes == ["GA-007 @ yunguan-local (遂政数〔2026〕40号): vcpu, instances"]
    with runtime.engine.connect() as conn:
        revisions = history(conn, "GA-007")
        assert [r.revision.allocation.approval_ref for r in revisions] == [
            "遂政数〔2026〕15号",
            "遂政数〔2026〕40号",
        ]
        assert approved_at(conn, dt.date(2026, 10, 9), "GA-007")[0].revision.allocation.quantities.vcpu == 32
        assert approved_at(conn, dt.date(2026, 10, 10), "GA-007")[0].revision.allocation.quantities.vcpu == 64
        # as the ledger stood before the change was recorded
        earlier = approved_at(conn, dt.date(2026, 10, 10), "GA-007", as_recorded_at=revisions[0].revision.recorded_at)
        assert earlier[0].revision.allocation.quantities.vcpu == 32


def test_bad_file_writes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    """A file whose last row is bad leaves every table, the operation log included, as it was."""
    import_file(runtime, EXAMPLES / "ledger-demo.csv")
    before = counts(runtime)
    text = (EXAMPLES / "ledger-demo.csv").read_text(encoding="utf-8").replace("〔2026〕", "〔2027〕")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        text.rstrip("\n")
        + "\n市新单位,,新系统,XX-1,3,电子政务外网,共享云,yunguan-local,abc,8,8,1,,,,,X号,2026-01-01,,,标准,,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(LedgerFileError) as err:
        import_file(runtime, bad)
    assert [(e.row, e.column) for e in err.value.errors] == [(9, "vcpu")]
    assert counts(runtime) == before


def test_conflict_with_the_store_rejects_the_whole_file(runtime: Runtime, tmp_path: Path) -> None:
    """Reusing a recorded approval number with other values is refused; nothing else in the file is written."""
    import_file(runtime, EXAMPLES / "ledger-demo.csv")
    before = counts(runtime)
    conflict = tmp_path / "conflict.csv"
    conflict.write_text(
        "使用单位,应用系统,系统编号,等保级别,网络区域,服务模式,云平台,vCPU（核）,内存（GiB）,存储（GiB）,审批文号,审批日期,申请类型,云项目\n"
        "市新单位,新系统,NEW-1,2,互联网,共享云,yunguan-local,2,4,50,新〔2026〕1号,2026-10-01,标准,newp\n"
        "市公安局,视频联网平台,GA-007,3,电子政务外网,专享云,yunguan-local,33,64,2000,遂政数〔2026〕15号,2026-02-03,标准,spwl\n"
        "市新单位,另一系统,NEW-2,2,互联网,共享云,yunguan-local,2,4,50,新〔2026〕2号,2026-10-01,标准,zwfw\n",
        encoding="utf-8",
    )
    with pytest.raises(LedgerFileError) as err:
        import_file(runtime, conflict)
    assert [(e.row, e.column) for e in err.value.errors] == [(3, "approval_ref"), (4, "projects")]
    assert "already belongs to 'ZW-001'" in str(err.value)
    assert counts(runtime) == before


def test_dry_run_writes_nothing(runtime: Runtime) -> None:
    """A dry run reports what would change and leaves the store empty."""
    summary = import_file(runtime, EXAMPLES / "ledger-demo.csv", dry_run=True)
    assert summary.created["systems"] == 6
    assert counts(runtime)["systems"] == 0
    assert counts(runtime)["audit_events"] == 0


def test_every_ledger_change_is_in_the_operation_log(runtime: Runtime) -> None:
    """Each created department, system, footprint, revision and registered cloud has its event; the log verifies."""
    summary = import_file(runtime, EXAMPLES / "ledger-demo.csv")
    with runtime.engine.connect() as conn:
        events = list(iter_events(conn))
        report = verify(iter_events(conn), read_checkpoints(conn), runtime.signer.public, read_head(conn))
    actions = [e.action for e in events]
    assert actions.count("allocation.revise") == summary.created["revisions"]
    assert actions.count("system.create") == summary.created["systems"]
    assert actions.count("footprint.add") == summary.created["footprints"]
    assert actions.count("cloud.register") == 3
    assert report.ok, report.problems
    assert report.checkpoints == len(events) // 10


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".yaml"])
def test_export_reimports_as_the_same_ledger(runtime: Runtime, tmp_path: Path, suffix: str) -> None:
    """Export every revision, import it into an empty store: the same approvals on every day and the same footprint."""
    import_file(runtime, EXAMPLES / "ledger-demo.csv")
    with runtime.engine.connect() as conn:
        parents = {"市公安局交警支队": "市公安局"}
        rows = export.to_rows(history(conn), parents, footprints(conn))
        original_fp = footprints(conn)
        snapshot = {
            d: [(a.system, a.cloud, a.revision.allocation) for a in approved_at(conn, d)]
            for d in (dt.date(2026, 3, 1), dt.date(2026, 7, 1), dt.date(2026, 11, 1))
        }
    path = tmp_path / f"ledger{suffix}"
    export.write(path, rows, "zh" if suffix == ".csv" else "en")
    with runtime.engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            if not table.name.startswith("audit") and table.name != "clouds":
                conn.execute(table.delete())
    import_file(runtime, path)
    with runtime.engine.connect() as conn:
        assert footprints(conn) == original_fp
        for day, expected in snapshot.items():
            assert [(a.system, a.cloud, a.revision.allocation) for a in approved_at(conn, day)] == expected
