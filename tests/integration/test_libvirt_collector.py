"""The libvirt collector against the real local libvirtd: the test driver's node files served over TCP and TLS
(enumeration, Nova metadata, unknown domains, shut-off domains left out), a dead and a hung host that must not stall
the sweep, a client without the PKI refused, and ``yunguan usage collect`` storing the sweep."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from adapters.libvirt.collector import LibvirtCollector
from controlplane.cli.app import app
from controlplane.clock import SystemClock
from controlplane.config import CloudSettings, HypervisorHost, HypervisorSettings
from controlplane.store.engine import make_engine
from controlplane.store.tables import usage_samples, usage_sweeps
from controlplane.usage_collect import plan_hosts
from controlplane.usage_sweep import SweepResult


def tcp(host: dict[str, Any]) -> HypervisorHost:
    return HypervisorHost(name=host["name"], uri=f"test+tcp://127.0.0.1{host['file']}")


def tls(host: dict[str, Any], pki: Path) -> HypervisorHost:
    return HypervisorHost(name=host["name"], uri=f"test+tls://127.0.0.1{host['file']}?pkipath={pki}")


def sweep(hosts: list[HypervisorHost], **settings: Any) -> SweepResult:
    collector = LibvirtCollector("os-test", hosts, HypervisorSettings(**settings), SystemClock())
    try:
        return collector.sweep(ask_agents=True)
    finally:
        collector.close()


def expected_running(manifest: dict[str, Any]) -> dict[str, str | None]:
    return {d["uuid"]: d["project_uuid"] for h in manifest["hosts"] for d in h["domains"] if d["state"] == "running"}


@pytest.mark.usefixtures("libvirtd")
def test_sweep_over_tcp_reads_every_running_domain_with_its_project(node_files) -> None:  # type: ignore[no-untyped-def]
    """Every host answers; running domains are seen (shut-off ones are not), each sample carries its Nova project,
    and the domains without Nova metadata are reported as unknown to the cloud."""
    manifest = node_files(hosts=3, domains=6, unknown=1, shutoff=2)
    result = sweep([tcp(h) for h in manifest["hosts"]])
    assert [(h.host, h.ok, h.domains) for h in result.hosts] == [(h["name"], True, 4) for h in manifest["hosts"]]
    running = expected_running(manifest)
    seen = {s.scope_id: s.group_id for s in result.samples}
    assert set(seen) == set(running)
    assert {u: p for u, p in seen.items() if running[u]} == {u: p for u, p in running.items() if p}
    unknown = {d.uuid for d in result.unknown_domains}
    assert unknown == {u for u, p in running.items() if p is None}
    assert result.complete


def test_sweep_over_tls_with_the_pki_and_refused_without_it(libvirtd: Path, node_files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """TLS with the department's client certificate works; a client without the PKI is refused with a clear error
    that names the host and the missing file."""
    manifest = node_files(hosts=2, domains=3, unknown=0)
    good = sweep([tls(h, libvirtd) for h in manifest["hosts"]])
    assert [h.ok for h in good.hosts] == [True, True]
    assert {s.scope_id for s in good.samples} == set(expected_running(manifest))
    empty = tmp_path / "no-pki"
    empty.mkdir()
    bad = sweep([tls(manifest["hosts"][0], empty)])
    (host,) = bad.hosts
    assert not host.ok and not bad.complete
    assert "host-01" in host.error and "cannot connect" in host.error
    assert "cacert.pem" in host.error


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback TCP server that accepts connections and never says a word (a hung hypervisor)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.usefixtures("libvirtd")
def test_dead_and_hung_hosts_never_stall_the_sweep(node_files) -> None:  # type: ignore[no-untyped-def]
    """A refused connection fails at once, a host that never answers fails at its timeout, and the healthy host's
    samples are there all the same; the sweep is marked incomplete."""
    manifest = node_files(hosts=1, domains=3, unknown=0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with silent_server() as port:
        hosts = [
            tcp(manifest["hosts"][0]),
            HypervisorHost(name="dead", uri=f"test+tcp://127.0.0.1:{closed_port}/default"),
            HypervisorHost(name="hung", uri=f"test+tcp://127.0.0.1:{port}/default"),
        ]
        collector = LibvirtCollector("os-test", hosts, HypervisorSettings(host_timeout_s=1.5), SystemClock())
        try:
            first = collector.sweep(ask_agents=False)
            by_host = {h.host: h for h in first.hosts}
            assert by_host["host-01"].ok and by_host["host-01"].domains == 3
            assert not by_host["dead"].ok and "cannot connect" in by_host["dead"].error
            assert not by_host["hung"].ok and "no answer within 1.5 s" in by_host["hung"].error
            assert not first.complete
            assert {s.scope_id for s in first.samples} == set(expected_running(manifest))
            second = {h.host: h for h in collector.sweep(ask_agents=False).hosts}
            assert second["host-01"].ok
            assert "still busy" in second["hung"].error  # its thread is still stuck: not piled up again
            assert "next try in" in second["dead"].error  # backoff: not hammered every sweep
        finally:
            collector.close()


@pytest.mark.usefixtures("libvirtd")
def test_cli_collect_stores_the_sweep_and_exits_6_when_a_host_is_down(  # type: ignore[no-untyped-def]
    node_files, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`yunguan usage collect` sweeps the configured hypervisors, stores the sweep with per-host results and the
    unknown domains, lists them for the operator; with a host down it exits 6 and says which."""
    manifest = node_files(hosts=2, domains=3, unknown=1)
    hosts = "".join(
        f"        - {{name: {h['name']}, uri: 'test+tcp://127.0.0.1{h['file']}'}}\n" for h in manifest["hosts"]
    )
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        f"database:\n  url: {db_url}\nclouds:\n  - name: os-hv\n    kind: openstack\n    vendor: v\n"
        f"    zone: extranet\n    hypervisors:\n      hosts:\n{hosts}",
        encoding="utf-8",
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--lang", "en", "--config", str(config), *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    done = run("usage", "collect", "os-hv", "--interval", "0")
    assert done.exit_code == 0, done.stderr
    assert "2/2 hypervisors answered, 6 domains" in done.stderr
    unknown = [d["uuid"] for h in manifest["hosts"] for d in h["domains"] if d["project_uuid"] is None]
    assert all(uuid in done.stderr for uuid in unknown)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            (row,) = conn.execute(select(usage_sweeps)).all()
            stored = {r.scope_id for r in conn.execute(select(usage_samples.c.scope_id))}
    finally:
        engine.dispose()
    assert (row.cloud, row.hosts_ok, row.hosts_failed, row.domains) == ("os-hv", 2, 0, 6)
    assert {d["uuid"] for d in json.loads(row.detail)["unknown_domains"]} == set(unknown)
    assert stored == set(expected_running(manifest))
    only = run("usage", "collect", "os-hv", "--host", "host-02", "--interval", "0")
    assert only.exit_code == 0 and "1/1 hypervisors answered, 3 domains" in only.stderr
    config.write_text(
        config.read_text() + "        - {name: gone, uri: 'test+tcp://127.0.0.1:1/default'}\n", encoding="utf-8"
    )
    partial = run("usage", "collect", "os-hv", "--interval", "0")
    assert partial.exit_code == 6
    assert "hypervisor gone failed" in partial.stderr


@pytest.mark.usefixtures("libvirtd")
def test_hosts_discovered_from_the_real_openstack_are_swept(  # type: ignore[no-untyped-def]
    node_files, openstack_clouds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `discover: true` the hosts are Nova's hypervisors (names and IPs from the real local OpenStack) at the
    URI template, plus the hosts named in config; each is swept."""
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(openstack_clouds))
    manifest = node_files(hosts=1, domains=2, unknown=0)
    template = Path(manifest["hosts"][0]["file"])
    nodes = tmp_path / "discovered"
    nodes.mkdir()
    cloud = CloudSettings(
        name="yunguan-local",
        kind="openstack",
        vendor="v",
        zone="extranet",
        connection="yunguan-local",
        hypervisors=HypervisorSettings(
            discover=True,
            uri_template=f"test+tcp://{{host_ip}}{nodes}/{{name}}.xml",
            hosts=(HypervisorHost(name="named", uri=f"test+tcp://127.0.0.1{template}"),),
        ),
    )
    plan = plan_hosts(cloud, SystemClock())
    assert plan.problem == ""
    discovered = [h.name for h in plan.hosts if h.name != "named"]
    assert discovered and all(name.startswith("fake-compute-") for name in discovered)
    for name in discovered:
        (nodes / f"{name}.xml").write_text(template.read_text())
    assert plan.hosts[0].name == "named"  # configured hosts first, then what Nova lists
    result = sweep(list(plan.hosts))
    assert [h.ok for h in result.hosts] == [True] * (len(discovered) + 1)
