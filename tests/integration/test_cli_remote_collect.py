"""`yunguan usage collect` over the API, on SQLite and PostgreSQL: the agent (uvicorn on loopback, the `served`
fixture) sweeps the real local libvirtd's test-driver hosts; the command follows the job to its end and prints what
the local command prints (the sweep's duration aside), exit 6 when a host is down, as locally; the round is the
token's, its intent and result in the operation log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from remote_fixtures import EXAMPLES, Served, served_fixture  # noqa: F401 - the fixture `served`

from controlplane.api.tokens import Role
from controlplane.audit.log import iter_events
from controlplane.config import Settings, load_settings


@pytest.fixture
def host_down() -> bool:
    return False


@pytest.fixture
def config(db_url: str, tmp_path: Path, node_files: Any, libvirtd: Path, host_down: bool) -> Path:  # noqa: ARG001
    """The example config with one more cloud, os-hv, whose hypervisors are two test-driver hosts of the local
    libvirtd (needs it running), and with ``host_down`` a third that does not answer."""
    manifest = node_files(hosts=2, domains=2, unknown=1)
    data = yaml.safe_load((EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8"))
    hosts = [{"name": h["name"], "uri": f"test+tcp://127.0.0.1{h['file']}"} for h in manifest["hosts"]]
    if host_down:
        hosts.append({"name": "gone", "uri": "test+tcp://127.0.0.1:1/default"})
    os_hv = {"name": "os-hv", "kind": "openstack", "vendor": "v", "zone": "extranet", "hypervisors": {"hosts": hosts}}
    data["clouds"] = [*data["clouds"], os_hv]
    data["database"] = {"url": db_url}
    path = tmp_path / "collect.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def settings(config: Path, tmp_path: Path) -> Settings:
    """What the served agent runs with (the `runtime` fixture's settings): the config above."""
    return load_settings(config, state_dir=tmp_path / "state", audit={"checkpoint_every": 10})


def timeless(text: str) -> list[str]:
    """The lines, sorted (hosts answer in parallel: their lines come in any order), the sweep's duration aside."""
    return sorted(re.sub(r"\d+\.\d s\b", "N s", text).splitlines())


def test_collect_over_the_api_sweeps_on_the_agent(served: Served, config: Path) -> None:
    """The agent takes the round and the command says what it said, exit 0; the local command prints the same."""
    remote = served.remote("--lang", "en", "usage", "collect", "os-hv", "--interval", "0")
    assert remote.exit_code == 0, remote.stderr
    assert "os-hv: 2/2 hypervisors answered, 4 domains" in remote.stderr
    assert "is no server of the cloud" in remote.stderr  # the unknown domains, as locally
    local = served.run("--config", str(config), "--lang", "en", "usage", "collect", "os-hv", "--interval", "0")
    assert local.exit_code == 0, local.stderr
    assert timeless(remote.stderr) == timeless(local.stderr)
    only = served.remote("--lang", "en", "usage", "collect", "os-hv", "--host", "host-02", "--interval", "0")
    assert only.exit_code == 0 and "1/1 hypervisors answered, 2 domains" in only.stderr
    with served.runtime.engine.connect() as conn:
        logged = [e for e in iter_events(conn) if e.action.startswith("usage.collect")]
    assert [e.action for e in logged] == ["usage.collect", "usage.collect.done"] * 2
    assert all(e.actor.startswith("operator:cli-operator#") for e in logged)
    assert logged[0].request_id.startswith("cli-")
    unknown = served.remote("usage", "collect", "mars")
    assert unknown.exit_code == 2 and "422" in unknown.stderr
    auditor = served.remote("usage", "collect", "os-hv", "--interval", "0", role=Role.AUDITOR)
    assert auditor.exit_code == 2 and "not allowed" in auditor.stderr


@pytest.mark.parametrize("host_down", [True])
def test_a_host_down_is_exit_6_as_locally(served: Served, config: Path) -> None:
    """With a host that does not answer, the agent's round is partial: exit 6 and the same lines as locally."""
    remote = served.remote("--lang", "en", "usage", "collect", "os-hv", "--interval", "0")
    local = served.run("--config", str(config), "--lang", "en", "usage", "collect", "os-hv", "--interval", "0")
    assert (remote.exit_code, local.exit_code) == (6, 6), remote.stderr
    assert "hypervisor gone failed" in remote.stderr
    assert timeless(remote.stderr) == timeless(local.stderr)
