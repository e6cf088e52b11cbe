"""The small protocols every adapter implements. The core depends on these shapes, never on an SDK."""

from __future__ import annotations

from typing import Protocol

from controlplane.domain import Cloud


class Adapter(Protocol):
    """An adapter bound to one configured cloud."""

    cloud: Cloud

    def close(self) -> None: ...
