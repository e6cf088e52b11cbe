"""The shapes shared by the policy engine, the findings lifecycle, enforcement and the monthly report.

A *pack* (``policies/<city>.yaml``) is a jurisdiction's rules as data; evaluating a pack for a period gives one
``Evaluation`` per rule, system and scope: a ``finding`` (the rule is broken, with its evidence), ``clear`` (it is
not), or ``unknown`` (too little data to say — never a finding). Findings then live their own lifecycle
(open → reminded → urged → enforceable → enforced | resolved | exempted | disputed) with deadlines from the rule's
``Escalation``, counted the Civil Code way (REGULATIONS.md §0) or in working days.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import Field

from controlplane.domain import Frozen


class Outcome(StrEnum):
    """What a broken rule leads to."""

    DOWNSIZE = "downsize"  # 核减: shrink the allocation / flavor / quota
    RECLAIM = "reclaim"  # 回收: take the resources back
    FREEZE = "freeze"  # 暂停冻结: stop (Suining project rules 48(3))
    EXPAND_ELIGIBLE = "expand-eligible"  # may expand (Bozhou 26): a notice, never an action


class Verdict(StrEnum):
    FINDING = "finding"
    CLEAR = "clear"
    UNKNOWN = "unknown"  # too little (or only estimated) data: never a finding


class Duration(Frozen):
    """A period as the regulations state it; exactly one unit. Months and days count from the day after the event
    (Civil Code art. 201-202: ``controlplane.periods``); working days on the state calendar with make-up days
    (``controlplane.calendar``)."""

    days: int | None = Field(default=None, ge=0)
    months: int | None = Field(default=None, ge=0)
    working_days: int | None = Field(default=None, ge=0)


class EscalationStep(Frozen):
    """After the previous step (or the finding's opening), wait ``after``, then move to ``to``."""

    to: Literal["reminded", "urged", "enforceable"]
    after: Duration
    citation: str = ""


class Evidence(Frozen):
    """One number a verdict rests on: an aggregate of a metric over a window, compared with a threshold."""

    metric: str  # e.g. cpu_percent, memory_percent, disk_percent, disk_free_bytes, stopped_days
    aggregate: str  # mean, max, hours_above, latest, days
    window_start: dt.datetime
    window_end: dt.datetime
    value: float | None  # None: not measurable
    comparison: Literal["lt", "le", "gt", "ge"]
    threshold: float
    met: bool | None  # None: unknown
    samples: int = 0
    estimated: int = 0
    missing: int = 0


class Evaluation(Frozen):
    pack: str  # e.g. suining
    rule_id: str  # e.g. suining-14-low-cpu
    citation: str  # e.g. "Suining art. 14"
    system: str  # system key (code)
    cloud: str | None  # None: the system across its clouds
    scope_kind: Literal["system", "server", "namespace"]
    scope_id: str  # the system key again for system scope; a server id or namespace otherwise
    outcome: Outcome
    verdict: Verdict
    period: str  # the evaluated window as text: "2026-10" (calendar month, UTC+8) or "2026-W43"
    window_start: dt.datetime
    window_end: dt.datetime
    evidence: tuple[Evidence, ...] = ()
    reason: str = ""  # why unknown, or a one-line summary


class FindingState(StrEnum):
    OPEN = "open"
    REMINDED = "reminded"
    URGED = "urged"
    ENFORCEABLE = "enforceable"
    ENFORCED = "enforced"
    RESOLVED = "resolved"
    EXEMPTED = "exempted"
    DISPUTED = "disputed"


TERMINAL = frozenset({FindingState.ENFORCED, FindingState.RESOLVED, FindingState.EXEMPTED})
