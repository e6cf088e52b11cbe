"""Shared by the hosting tests: the ledger with hosting allocations, a second vendor's zone, and equipment specs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from controlplane.domain import Cloud, CloudKind, Zone
from controlplane.hosting import store
from controlplane.hosting.model import EquipmentKind, EquipmentSpec, Position
from controlplane.hosting.scope import Caller, Role
from controlplane.ledger.forms import read_ledger_file
from controlplane.ledger.rows import parse_ledger
from controlplane.ledger.store import apply_batch, load_clouds, sync_clouds
from controlplane.runtime import Runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
DATA = Path(__file__).with_name("data")
VENDOR_A = "某托管服务商"  # hosting-zone's vendor in deploy/examples/yunguan.yaml
VENDOR_B = "另一托管服务商"
UNIT = "市人力资源和社会保障局"
A = Caller(Role.VENDOR, f"vendor:{VENDOR_A}", vendor=VENDOR_A)
B = Caller(Role.VENDOR, f"vendor:{VENDOR_B}", vendor=VENDOR_B)
OPERATOR = Caller(Role.OPERATOR, "operator:test")


def import_ledger(rt: Runtime) -> None:
    """The demo ledger (RS-004 hosted on hosting-zone), the hosting rows of data/, and a second vendor's zone."""
    with rt.engine.begin() as conn:
        sync_clouds(
            conn,
            [
                *rt.configured_clouds(),
                Cloud(name="hosting-b", kind=CloudKind.HOSTING, vendor=VENDOR_B, zone=Zone.EXTRANET),
            ],
            rt.audit,
            "operator:test",
        )
        for path in (EXAMPLES / "ledger-demo.csv", DATA / "hosting-ledger.yaml"):
            batch = parse_ledger(read_ledger_file(path), load_clouds(conn))
            apply_batch(conn, batch, rt.audit, "operator:test", rt.clock.now())


def spec(serial: str, u_start: int, u_height: int = 2, **kw: Any) -> EquipmentSpec:
    values: dict[str, Any] = {
        "serial": serial,
        "kind": EquipmentKind.SERVER,
        "model": "PowerEdge R740",
        "unit": UNIT,
        "system": "RS-004",
        "position": Position(site="遂宁数据中心", room="3F-301", rack="A07", u_start=u_start, u_height=u_height),
        "power_watts": 800,
        "ports": 2,
        "bandwidth_bps": 100_000_000,
        "hosted_since": dt.date(2026, 3, 5),
    }
    values.update(kw)
    return EquipmentSpec.model_validate(values)


def register(rt: Runtime, caller: Caller, item: EquipmentSpec, vendor: str | None = None) -> int:
    with rt.engine.begin() as conn:
        return store.register(conn, rt.audit, caller, item, rt.clock.now(), vendor=vendor).id
