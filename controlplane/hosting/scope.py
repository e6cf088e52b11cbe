"""Who may see and change which equipment.

A vendor sees and changes only the equipment it registered; a unit reads only its own department's equipment;
operators and admins see and change everything; auditors read everything. Queries take the caller and filter in
SQL, so equipment outside a caller's scope is never loaded: its id answers exactly like an id that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    VENDOR = "vendor"
    UNIT = "unit"


WRITERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.VENDOR})


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of a hosting function: its role, the vendor or department it is bound to, and the actor name the
    operation log records (``vendor:NAME``, ``operator:USER``)."""

    role: Role
    actor: str
    vendor: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.role is Role.VENDOR and not self.vendor:
            raise ValueError("a vendor caller is bound to one vendor")
        if self.role is Role.UNIT and not self.unit:
            raise ValueError("a unit caller is bound to one department")

    @property
    def sees_all(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR, Role.AUDITOR)

    @property
    def can_write(self) -> bool:
        return self.role in WRITERS


def operator(actor: str) -> Caller:
    """The CLI's caller: an operator on the local store."""
    return Caller(Role.OPERATOR, actor)
