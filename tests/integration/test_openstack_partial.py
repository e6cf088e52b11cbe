"""A server listing that fails on page k of the real Nova: the run is partial and draws nothing from absence.

A small proxy of our own stands between the adapter and the real nova-api on loopback; it passes everything through
except the k-th page of the server listing, which it answers 503 as an overloaded nova-api would.
"""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from adapters.openstack.inventory import OpenStackInventory, connect
from controlplane.calendar import WorkingCalendar
from controlplane.clock import today_cst
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.reconcile.desired_build import build_desired
from controlplane.reconcile.engine import reconcile_cloud
from controlplane.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
NOVA = "http://127.0.0.1:8774"


class FailingProxy:
    def __init__(self, fail_page: int) -> None:
        self.fail_page = fail_page
        self.pages = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/v2.1/servers/detail"):
                    proxy.pages += 1
                    if proxy.pages == proxy.fail_page:
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                request = urllib.request.Request(NOVA + self.path, headers=dict(self.headers))  # noqa: S310
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback nova
                        status, headers, body = answer.status, answer.headers, answer.read()
                except urllib.error.HTTPError as err:
                    status, headers, body = err.code, err.headers, err.read()
                body = body.replace(NOVA.encode(), proxy.url.encode())
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FailingProxy:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ledger(runtime: Runtime) -> Runtime:
    with runtime.engine.begin() as conn:
        sync_clouds(conn, runtime.configured_clouds(), runtime.audit, "operator:test")
        batch = parse_ledger(read_ledger_file(REPO / "deploy" / "examples" / "ledger-demo.csv"), load_clouds(conn))
        apply_batch(conn, batch, runtime.audit, "operator:test", runtime.clock.now())
    return runtime


@pytest.fixture
def proxied_clouds(openstack_clouds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FailingProxy]:
    with FailingProxy(fail_page=2) as proxy:
        data = yaml.safe_load(openstack_clouds.read_text(encoding="utf-8"))
        data["clouds"]["yunguan-local"]["compute_endpoint_override"] = proxy.url + "/v2.1"
        path = tmp_path / "clouds.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
        yield proxy


def test_failure_on_page_two_gives_no_false_drift(
    ledger: Runtime, proxied_clouds: FailingProxy, openstack_clouds: Path
) -> None:
    """Pages of 2 servers, page 2 fails: the inventory is incomplete, no 'under', and every drift found is also
    found from the complete listing."""
    rt = ledger
    with rt.engine.connect() as conn:
        cloud = load_clouds(conn)["yunguan-local"]
        desired = build_desired(
            conn, cloud, today_cst(rt.clock), WorkingCalendar(), ignore_groups=frozenset({"admin", "service"})
        )
    failing = OpenStackInventory("yunguan-local", rt.clock, page_size=2).take()
    assert proxied_clouds.pages >= 2
    assert not failing.complete
    assert any("HTTP 503" in p for p in failing.problems)
    partial = reconcile_cloud(desired, failing)

    full_inventory = OpenStackInventory("yunguan-local", rt.clock, page_size=2, conn=_direct(openstack_clouds)).take()
    assert full_inventory.complete
    full = reconcile_cloud(desired, full_inventory)
    assert not any(d.drift_class.value == "under" for d in partial.drift)
    assert {d.key for d in partial.drift} <= {d.key for d in full.drift}
    assert partial.suppressed


def _direct(clouds: Path):  # type: ignore[no-untyped-def]
    import os

    previous = os.environ.get("OS_CLIENT_CONFIG_FILE")
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    try:
        return connect("yunguan-local")
    finally:
        if previous is not None:
            os.environ["OS_CLIENT_CONFIG_FILE"] = previous
