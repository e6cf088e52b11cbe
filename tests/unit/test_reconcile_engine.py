"""The reconcile engine on scenario files: desired + observed in, exactly the expected drift out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.reconcile.desired import DesiredCloud
from controlplane.reconcile.drift import DriftClass
from controlplane.reconcile.engine import reconcile_cloud
from controlplane.reconcile.observed import Inventory

SCENARIOS = Path(__file__).with_name("scenarios")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8"))
    return data


def found(data: dict[str, Any]) -> tuple[set[tuple[str, str | None, str, str]], list[str]]:
    result = reconcile_cloud(DesiredCloud.model_validate(data["desired"]), Inventory.model_validate(data["observed"]))
    return {(d.drift_class.value, d.system, d.resource_kind, d.resource_id) for d in result.drift}, result.suppressed


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_scenario_gives_exactly_the_expected_drift(name: str) -> None:
    """Each scenario file states every drift it must produce, and no other."""
    data = load(name)
    drift, suppressed = found(data)
    assert drift == {tuple(e) for e in data["expected"]}
    assert sorted(suppressed) == sorted(data.get("expected_suppressed", []))


def test_partial_listing_never_yields_absence_based_drift() -> None:
    """A server listing that failed on page 2 gives no 'under' and no unapproved server, whatever was missed."""
    data = load("openstack-partial.yaml")
    data["observed"]["servers"] = []  # even if page 1 was lost too
    drift, _ = found(data)
    assert not any(c == DriftClass.UNDER.value for c, *_ in drift)
    assert not any(kind == "server" and c == "unapproved" for c, _, kind, _ in drift)


def test_same_inputs_same_output_order() -> None:
    """Deterministic: shuffled listings give the same drift in the same order."""
    data = load("openstack-mixed.yaml")
    first = reconcile_cloud(DesiredCloud.model_validate(data["desired"]), Inventory.model_validate(data["observed"]))
    for key in ("groups", "servers", "volumes", "quotas"):
        data["observed"][key] = list(reversed(data["observed"][key]))
    second = reconcile_cloud(DesiredCloud.model_validate(data["desired"]), Inventory.model_validate(data["observed"]))
    assert [d.key for d in first.drift] == [d.key for d in second.drift]


def test_inventory_of_another_cloud_is_refused() -> None:
    """Comparing a cloud's ledger with another cloud's inventory is a programming error, said plainly."""
    data = load("openstack-mixed.yaml")
    data["observed"]["cloud"] = "os2"
    with pytest.raises(ValueError, match="inventory of 'os2' given for cloud 'os1'"):
        found(data)
