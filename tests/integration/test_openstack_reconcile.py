"""Reconcile against the real local OpenStack: the demo ledger and the demo scenario give exactly the drift a real
operator would see, and a dead nova-api gives a partial run with no false drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from controlplane.cli.app import app

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "deploy" / "examples"
CLOUD = "yunguan-local"


@pytest.fixture
def cli(openstack_clouds: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(openstack_clouds))
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n", encoding="utf-8"
    )
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--lang", "en", *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(EXAMPLES / "ledger-demo.csv")).exit_code == 0
    return run


def drift_of(cli) -> set[tuple[str, str | None, str, str]]:  # type: ignore[no-untyped-def]
    rows = json.loads(cli("drift", "--cloud", CLOUD, "-o", "json").stdout or "[]")
    found = {(r["drift_class"], r["system"], r["resource_kind"], r["resource_name"] or r["resource_id"]) for r in rows}
    # the action tests' project (it-*) and the benchmark's (bench-*) share the cloud and are, rightly, nobody's
    return {d for d in found if not d[3].startswith(("it-", "bench-"))}


def test_demo_ledger_against_the_real_cloud(cli) -> None:  # type: ignore[no-untyped-def]
    """Exactly the drift the scenario was built to show, and a second run finds nothing new."""
    first = cli("reconcile", CLOUD)
    assert first.exit_code == 1, first.stdout + first.stderr
    drift = drift_of(cli)
    quotas = {(c, s, k, n) for c, s, k, n in drift if c == "quota-mismatch"}
    assert {n for *_, n in quotas} == {
        "GA-007:vcpu",
        "GA-007:memory_bytes",
        "GA-007:storage_bytes",
        "GA-007:instances",
        "GA-012:instances",
    }
    assert drift - quotas == {
        ("unapproved", None, "project", "sandbox"),
        ("orphan", "ZJ-009", "project", "zjda"),
        ("over", "GA-012", "allocation", "GA-012:instances"),
        ("zone-mismatch", "GA-012", "server", "jtxh-app-1"),
        ("zone-mismatch", "GA-012", "server", "jtxh-app-2"),
        ("zone-mismatch", "GA-012", "server", "jtxh-app-3"),
    }
    second = cli("reconcile", CLOUD)
    assert second.exit_code == 1
    rows = json.loads(cli("drift", "-o", "json").stdout)
    assert not any(r["is_new"] for r in rows)


def test_dead_nova_gives_a_partial_run_and_no_false_drift(  # type: ignore[no-untyped-def]
    cli, openstack_clouds: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With compute unreachable the run is partial (exit 6): servers unseen, yet no 'under' and no resolved drift."""
    assert cli("reconcile", CLOUD).exit_code == 1
    before = drift_of(cli)
    broken = tmp_path / "clouds-broken.yaml"
    data = yaml.safe_load(openstack_clouds.read_text(encoding="utf-8"))
    # the catalog still says nova is on 8774; point the client at a closed port for compute only
    data["clouds"][CLOUD]["compute_endpoint_override"] = "http://127.0.0.1:9/v2.1"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(broken))
    result = cli("reconcile", CLOUD)
    assert result.exit_code == 6, result.stdout + result.stderr
    assert "listing incomplete" in result.stderr
    after = drift_of(cli)
    assert not any(c == "under" for c, *_ in after)
    assert after <= before  # nothing new was invented from what could not be seen


def test_nova_instance_actions_reach_the_operation_log_once(cli, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """The seeded servers' create actions reach the operation log after a reconcile, once however often it runs."""
    from controlplane.audit.log import iter_events
    from controlplane.store.engine import make_engine

    cli("reconcile", CLOUD)
    cli("reconcile", CLOUD)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        events = [e for e in iter_events(conn) if e.action.startswith("nova.instance_action.")]
    engine.dispose()
    creates = [json.loads(e.after)["server_name"] for e in events if e.action == "nova.instance_action.create"]
    assert {"jtxh-app-1", "jtxh-app-2", "jtxh-app-3", "sandbox-vm"} <= set(creates)
    assert len(creates) == len(set(creates))
    assert all(e.actor.startswith(f"cloud:{CLOUD}:") for e in events)
