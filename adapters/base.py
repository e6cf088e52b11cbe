"""The small protocols every adapter implements, defined by the core so that it depends on these shapes and never on
an SDK: an inventory source (one snapshot of its cloud) and, optionally, a source of the cloud's own operation
records. Adapters register a factory ``(CloudSettings, Clock) -> source`` under the ``yunguan.adapters`` entry point.
"""

from __future__ import annotations

from controlplane.reconcile.runs import InventorySource
from controlplane.records import RecordSource

__all__ = ["InventorySource", "RecordSource"]
