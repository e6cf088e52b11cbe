"""Hosted equipment in a termination: done when the vendor's degauss or destruction certificate (Chongqing 39) is on
the equipment's record and an operator confirms it; then the equipment is retired from the hosting zone."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Connection

from controlplane.audit.log import AuditLog, Entry
from controlplane.clock import CST
from controlplane.hosting import store as hosting
from controlplane.hosting.model import EquipmentState, EvidenceKind, RetireReason
from controlplane.hosting.scope import operator
from controlplane.termination.case import CaseState
from controlplane.termination.cases import TerminationError, case_of
from controlplane.termination.guards import GuardError, wipe_refusals
from controlplane.termination.ports import Category, Method, TargetKind
from controlplane.termination.steps import Step, StepState, mark_confirmed, steps_of


class Sanitization(StrEnum):
    DEGAUSS = "degauss"  # NIST SP 800-88: degaussing magnetic media is Purge
    DESTRUCTION = "destruction"  # shredding, disintegration, incineration: Destroy


_CATEGORY = {Sanitization.DEGAUSS: Category.PURGE, Sanitization.DESTRUCTION: Category.DESTROY}
_METHOD = {Sanitization.DEGAUSS: Method.DEGAUSS, Sanitization.DESTRUCTION: Method.DESTRUCTION}


def confirm_equipment(
    conn: Connection,
    audit: AuditLog,
    system: str,
    serial: str,
    *,
    how: Sanitization,
    actor: str,
    now: dt.datetime,
) -> Step:
    """Confirm the certificate of ``serial`` in ``system``'s running termination and retire the equipment."""
    case = case_of(conn, system, for_update=True)
    if case.state is not CaseState.WIPING:
        raise GuardError([f"case {case.id} is {case.state.value}: equipment is confirmed while the wipe runs (wiping)"])
    reasons = wipe_refusals(case, now.astimezone(CST).date())
    if reasons:
        raise GuardError(reasons)
    step = next(
        (s for s in steps_of(conn, case.id) if s.target.kind is TargetKind.EQUIPMENT and s.target.id == serial),
        None,
    )
    if step is None:
        raise TerminationError(f"equipment {serial!r} is not in the termination plan of {case.system!r}", "serial")
    if step.state is StepState.DONE:
        return step
    caller = operator(actor)
    piece = hosting.get_equipment(conn, caller, int(step.target.attributes["equipment_id"]), for_update=True)
    certificates = [e for e in piece.evidence if e.kind is EvidenceKind.SANITIZATION_CERTIFICATE]
    if not certificates:
        raise GuardError(
            [f"equipment {serial!r}: the vendor has uploaded no degauss or destruction certificate (Chongqing 39)"]
        )
    evidence = [{"id": e.id, "name": e.name, "sha256": e.sha256, "size": e.size} for e in certificates]
    seq = audit.append(
        conn,
        Entry(
            actor,
            "termination.equipment.confirm",
            f"termination:{case.id}:{step.label}",
            None,
            {"case": case.id, "serial": serial, "vendor": piece.vendor, "how": how.value, "certificates": evidence},
        ),
    )
    detail = "; ".join(f"certificate {e['name']} sha256 {e['sha256']}" for e in evidence)
    mark_confirmed(
        conn,
        step,
        method=_METHOD[how].value,
        category=_CATEGORY[how].value,
        detail=detail,
        seq=seq,
        now=now,
    )
    if piece.state is not EquipmentState.RETIRED:
        hosting.retire(
            conn, audit, caller, piece.id, reason=RetireReason.DISPOSED, on=now.astimezone(CST).date(), now=now
        )
    return next(s for s in steps_of(conn, case.id) if s.id == step.id)
