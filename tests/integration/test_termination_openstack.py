"""A whole termination against the real local OpenStack, through the production wiring (the ``yunguan.wipers``
entry point, the real reconcile): a system's fresh project with a server, a volume and its snapshot is planned
exactly (nothing of the demo projects), refused before the transition ends, wiped after it, and the final reconcile
finds nothing left: the case is reclaimed with its billing end, the system terminated, and the signed certificate
verifies against the operation log. A project created alongside, outside the footprint, is untouched."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from adapters.openstack.inventory import connect
from controlplane.cli.app import app
from controlplane.clock import FixedClock
from controlplane.hosting.evidence import evidence_store
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds, systems
from controlplane.runtime import Runtime
from controlplane.termination import cases
from controlplane.termination.case import CaseState
from controlplane.termination.certificate import case_events, certificate_body, sign, store_lookup, verify
from controlplane.termination.guards import GuardError
from controlplane.termination.ports import TargetKind
from controlplane.termination.run import Runner
from controlplane.termination.steps import steps_of
from controlplane.termination.terms import TerminationTerms
from controlplane.termination.wiring import final_reconcile, plan_for

CLOUD = "yunguan-local"
EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
TERMS = TerminationTerms(request_within_months=1, transition_months=3, citation="Suining 16")


@pytest.fixture(scope="module")
def admin(openstack_clouds: Path) -> Iterator[Any]:
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(openstack_clouds)
    conn = connect(CLOUD)
    yield conn
    conn.close()


def project(admin: Any, label: str) -> tuple[Any, Any]:
    idn = admin.identity
    domain = idn.find_domain("default")
    made = idn.create_project(
        name=f"it-term-{label}-{uuid.uuid4().hex[:6]}", domain_id=domain.id, description="termination test"
    )
    idn.assign_project_role_to_user(made, idn.find_user("admin", domain_id=domain.id), idn.find_role("admin"))
    return made, admin.connect_as_project({"id": made.id, "name": made.name, "domain_id": domain.id})


def fill(conn: Any, admin: Any) -> dict[str, str]:
    """A server, a volume and a snapshot of it; returns id -> kind."""
    size = admin.compute.find_flavor("it.term") or admin.compute.create_flavor(
        name="it.term", vcpus=1, ram=512, disk=1, is_public=True
    )
    image = conn.image.create_image(
        "boot",
        data=io.BytesIO(b"\0" * 1024),
        disk_format="raw",
        container_format="bare",
        visibility="private",
        wait=True,
        timeout=120,
    )
    server = conn.compute.create_server(name="web", flavor_id=size.id, image_id=image.id, networks="none")
    server = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], interval=1, wait=300)
    volume = conn.block_storage.create_volume(name="data", size=1)
    volume = conn.block_storage.wait_for_status(volume, status="available", failures=["error"], interval=1, wait=120)
    snap = conn.block_storage.create_snapshot(volume_id=volume.id, name="data-snap")
    conn.block_storage.wait_for_status(snap, status="available", failures=["error"], interval=1, wait=120)
    return {server.id: "server", volume.id: "volume", snap.id: "snapshot", image.id: "image"}


def held(admin: Any, project_id: str) -> set[str]:
    found = {s.id for s in admin.compute.servers(all_projects=True, project_id=project_id)}
    found |= {v.id for v in admin.block_storage.volumes(all_projects=True, project_id=project_id)}
    found |= {s.id for s in admin.block_storage.snapshots(all_projects=True, project_id=project_id)}
    found |= {i.id for i in admin.image.images(owner=project_id)}
    return found


def cleanup(admin: Any, project_id: str) -> None:
    for s in admin.compute.servers(all_projects=True, project_id=project_id):
        admin.compute.delete_server(s.id, force=True)
        admin.compute.wait_for_delete(s, wait=120)
    for snap in admin.block_storage.snapshots(all_projects=True, project_id=project_id):
        admin.block_storage.delete_snapshot(snap.id)
        admin.block_storage.wait_for_delete(snap, wait=120)
    for v in admin.block_storage.volumes(all_projects=True, project_id=project_id):
        admin.block_storage.delete_volume(v.id, force=True)
        admin.block_storage.wait_for_delete(v, wait=120)
    for i in admin.image.images(owner=project_id):
        admin.image.delete_image(i.id)
    admin.identity.delete_project(project_id)


def ledger(rt: Runtime, tmp_path: Path, project_id: str) -> None:
    rows = {
        "rows": [
            {
                "unit": "市退役测试局",
                "system": "终止测试系统",
                "system code": "TM-OS-1",
                "MLPS level": 2,
                "zone": "extranet",
                "mode": "shared",
                "cloud": CLOUD,
                "vCPU": 2,
                "memory GiB": 4,
                "storage GiB": 20,
                "instances": 2,
                "approval number": "遂政数〔2026〕99号",
                "approval date": "2026-01-05",
                "kind": "standard",
                "projects": project_id,
            }
        ]
    }
    path = tmp_path / "termination-ledger.yaml"
    path.write_text(yaml.safe_dump(rows, allow_unicode=True), encoding="utf-8")
    with rt.engine.begin() as conn:
        sync_clouds(conn, rt.configured_clouds(), rt.audit, "operator:test")
        batch = parse_ledger(read_ledger_file(path), load_clouds(conn))
        apply_batch(conn, batch, rt.audit, "operator:test", rt.clock.now())


def cli(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """`yunguan` in-process on this test's store (the example config, as the runtime fixture reads it)."""
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n", encoding="utf-8"
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    return CliRunner().invoke(app, ["--lang", "en", "--config", str(config), *args], catch_exceptions=False)


def test_a_real_project_is_wiped_reclaimed_and_certified(  # noqa: PLR0917 - fixtures
    runtime: Runtime,
    admin: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    openstack_clouds: Path,
    db_url: str,
) -> None:
    """Plan (also `terminate plan`) = exactly the project's server, volume, snapshot and image; refused before the
    transition's end (also `run --dry-run`); after it, every one deleted and read back, the final reconcile clean,
    billing end recorded, certificate valid."""
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(openstack_clouds))
    rt = runtime
    clock = rt.clock
    assert isinstance(clock, FixedClock)
    ours, ours_conn = project(admin, "a")
    other, other_conn = project(admin, "b")
    try:
        made = fill(ours_conn, admin)
        bystander = other_conn.block_storage.create_volume(name="keep", size=1)
        ledger(rt, tmp_path, ours.id)
        preview = cli(tmp_path, db_url, monkeypatch, "terminate", "plan", "终止测试系统", "-o", "json")
        assert preview.exit_code == 0, preview.stderr
        assert len(json.loads(preview.stdout)) == len(made)
        assert "no termination case has been requested" in preview.stderr
        with rt.engine.begin() as conn:
            case = cases.request(
                conn,
                rt.audit,
                TERMS,
                "TM-OS-1",
                reason="迁移",
                stopped_use_on=None,
                actor="operator:a",
                now=clock.now(),
            )
            cases.approve(conn, rt.audit, TERMS, case.id, actor="operator:b", now=clock.now())
            cases.confirm_backup(
                conn,
                rt.audit,
                evidence_store(rt.settings.state_dir),
                case.id,
                name="backup.pdf",
                chunks=[b"done"],
                actor="unit:市退役测试局",
                now=clock.now(),
            )
            cases.approve_wipe(conn, rt.audit, case.id, actor="operator:c", now=clock.now())

        listed = cli(tmp_path, db_url, monkeypatch, "terminate", "plan", "TM-OS-1", "-o", "json")
        assert listed.exit_code == 0, listed.stderr
        assert {r["id"]: r["kind"] for r in json.loads(listed.stdout)} == made
        dry = cli(tmp_path, db_url, monkeypatch, "terminate", "run", "TM-OS-1", "--dry-run")
        assert dry.exit_code == 1
        assert "would wipe" in dry.stderr and "transition period runs until" in dry.stderr
        assert held(admin, ours.id) == set(made)

        plan, wipers = plan_for(rt, "TM-OS-1", "operator:c")
        assert {t.id: t.kind.value for t in plan.targets} == made
        assert (plan.targets[0].kind, plan.targets[-1].kind) == (TargetKind.SERVER, TargetKind.IMAGE)
        runner = Runner(rt.engine, rt.audit, clock, TERMS, wipers.wipers, wipers.disk_wipers, "operator:c")
        with pytest.raises(GuardError, match="transition period runs until"):
            runner.run("TM-OS-1", plan, final_reconcile(rt, "operator:c"))
        assert held(admin, ours.id) == set(made)

        clock.set(dt.datetime(2027, 2, 21, 2, 0, tzinfo=dt.UTC))  # the day after the transition (approved Nov 20)
        report = runner.run("TM-OS-1", plan, final_reconcile(rt, "operator:c"))
        assert report.failed == [] and report.leftovers == []
        assert report.state is CaseState.RECLAIMED
        assert held(admin, ours.id) == set()
        assert admin.block_storage.get_volume(bystander.id).id == bystander.id

        with rt.engine.connect() as conn:
            case = cases.case_of(conn, "TM-OS-1")
            steps = steps_of(conn, case.id)
            status = {s.key: s.status.value for s, _ in systems(conn)}
            body = certificate_body(
                case, "终止测试系统", steps, case_events(conn, case.id), issued_by="operator:c", issued_at=clock.now()
            )
            assert verify(sign(body, rt.signer), rt.signer.public, store_lookup(conn)) == []
        assert case.billing_end == dt.date(2027, 2, 21)
        assert status["TM-OS-1"] == "terminated"
        assert {s.target.id for s in steps} == set(made)
        assert all(s.category in {"none", "attested", "purge"} for s in steps)  # recorded honestly
    finally:
        cleanup(admin, ours.id)
        cleanup(admin, other.id)
