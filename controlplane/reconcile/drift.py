"""Drift records: one difference between what was approved and what runs, with the numbers that show it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from controlplane.domain import Frozen


class DriftClass(StrEnum):
    UNAPPROVED = "unapproved"  # a group or server that belongs to no system
    OVER = "over"  # observed above the approved allocation
    UNDER = "under"  # approved but not provisioned after the provisioning deadline
    QUOTA_MISMATCH = "quota-mismatch"  # the cloud's quota differs from the approved allocation
    ZONE_MISMATCH = "zone-mismatch"  # running in the other network zone than approved
    ORPHAN = "orphan"  # resources left of a terminated system


class Drift(Frozen):
    cloud: str
    system: str | None
    drift_class: DriftClass
    resource_kind: str = Field(description="project, namespace, server, volume, quota, equipment, allocation")
    resource_id: str
    resource_name: str = ""
    detail: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """Identity across runs: the same difference on the same resource is the same drift."""
        return (self.cloud, self.system or "", self.drift_class.value, self.resource_kind, self.resource_id)
